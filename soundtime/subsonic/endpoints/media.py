"""Media retrieval: stream, download, getCoverArt.

``download`` sends the stored file byte for byte, with HTTP ranges, ETag and HEAD (replicated tracks come from
their peers while they arrive, as on ``/api/tracks/{id}/stream``). ``stream`` does the same, or transcodes when
``format``, ``maxBitRate`` or ``timeOffset`` ask for it (see :mod:`soundtime.subsonic.transcoding`);
``estimateContentLength=true`` gives a live transcode an estimated ``Content-Length``.
"""

from __future__ import annotations

import uuid

from fastapi import Response

from soundtime.kit.errors import NotFound
from soundtime.listening import playlists
from soundtime.streaming import service as streaming
from soundtime.streaming.media import Media
from soundtime.streaming.responses import media_response, original_audio_response
from soundtime.streaming.transcode import Format
from soundtime.streaming.transcode.http import transcode_response
from soundtime.subsonic import covers, ids, remote, transcoding
from soundtime.subsonic import repository as repo
from soundtime.subsonic.errors import not_found
from soundtime.subsonic.registry import Call, app_state, endpoint


async def original(call: Call, track_id: uuid.UUID) -> Response:
    """The track's audio as stored (no database session is held while a peer sends it)."""
    return await original_audio_response(call.request, call.context, track_id)


def _defaults(call: Call) -> transcoding.Defaults:
    settings = call.context.settings
    return transcoding.Defaults(
        Format(settings.subsonic_transcode_format), settings.transcode_opus_bitrate, settings.transcode_mp3_bitrate
    )


@endpoint("stream")
async def stream(call: Call) -> Response:
    """A song's audio (``tr-`` id, or a peer's hit ``rh-``: imported first): the stored file, or a transcode."""
    asked = transcoding.Request.parse(call.params)
    track_id = await remote.track_id(call, call.params.require("id"))
    async with call.session() as session:
        source = await repo.stream_source(session, track_id)
    if source is None:
        raise not_found("song")
    options = transcoding.plan(asked, *source, _defaults(call))
    if options is None:
        return await original(call, track_id)
    estimate = call.params.boolean("estimateContentLength", False)
    return await transcode_response(call.request, call.context, track_id, options, estimate_length=estimate)


@endpoint("download")
async def download(call: Call) -> Response:
    """A song's file as stored, as an attachment."""
    track_id = await remote.track_id(call, call.params.require("id"))
    response = await original(call, track_id)
    if response.status_code in (200, 206):
        async with call.session() as session:
            song = (await repo.songs_by_ids(session, call.me.user_id, [track_id])).get(track_id)
        if song is not None:
            name = f"{song.title}.{song.format}".replace('"', "'").encode("ascii", "replace").decode()
            response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _resized(call: Call) -> covers.ResizedCovers:
    directory = call.context.settings.data_dir / "subsonic" / "covers"
    found: covers.ResizedCovers = app_state(call, "subsonic_covers", lambda: covers.ResizedCovers(directory))
    return found


async def _cover(call: Call, raw: str) -> Media:
    parsed = ids.parse(raw, "al", "tr", "ar", "pl")
    assert parsed.uuid is not None
    blobs = call.context.blobs
    async with call.session() as session:
        album_id: uuid.UUID | None = parsed.uuid
        if parsed.kind == "tr":
            return await streaming.track_cover(session, blobs, parsed.uuid)
        if parsed.kind == "ar":
            album_id = await repo.cover_album_of_artist(session, parsed.uuid)
        elif parsed.kind == "pl":
            album_id = (await playlists.readable(session, call.me.user_id, parsed.uuid)).cover_album_id
        if album_id is None:
            raise not_found("cover art")
        return await streaming.album_cover(session, blobs, album_id)


@endpoint("getCoverArt")
async def get_cover_art(call: Call) -> Response:
    """The cover of an album (``al-``), a song's album (``tr-``), an artist's album (``ar-``) or a playlist's first
    album that has one (``pl-``); ``size`` (16..2048 px, the longer side) scales it down to a JPEG."""
    try:
        media = await _cover(call, call.params.require("id"))
    except NotFound as exc:
        raise not_found("cover art") from exc
    size = call.params.optional_integer("size")
    if size is None or size <= 0:
        return await media_response(call.request, media)
    size = max(covers.MIN_SIZE, min(covers.MAX_SIZE, size))
    etag = f'"{media.digest}-{size}"'
    headers = {"ETag": etag, "Cache-Control": media.cache}
    if call.request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    try:
        data = await _resized(call).get(media.digest, media.store.path_for(media.digest), size)
    except (covers.CoverUnreadable, FileNotFoundError) as exc:
        raise not_found("cover art") from exc
    if data is None:
        return await media_response(call.request, media)
    return Response(data, media_type="image/jpeg", headers=headers)
