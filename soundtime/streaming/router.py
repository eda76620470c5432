"""Audio streaming and cover art: ``GET|HEAD /api/tracks/{id}/stream``, album and track covers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from soundtime.auth.dependencies import MediaClaims
from soundtime.blobs.store import BlobNotFound, BlobStore
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import NotFound, RangeNotSatisfiable
from soundtime.library import repository as repo
from soundtime.models import Cover
from soundtime.streaming.ranges import ByteRange, Unsatisfiable, parse_range

router = APIRouter(tags=["streaming"])

AUDIO_MIME = {
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg; codecs=opus",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "aiff": "audio/aiff",
}
_MAX_COVER_BYTES = 16 << 20


def _etag(digest: str) -> str:
    return f'"{digest}"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


async def _body(store: BlobStore, digest: str, start: int, stop: int) -> AsyncIterator[bytes]:
    async for chunk in store.aread_range(digest, start, stop):
        yield chunk


def media_response(
    request: Request, store: BlobStore, digest: str, size: int, media_type: str, *, cache: str
) -> Response:
    """Serve a stored blob with ETag, conditional requests and single byte ranges."""
    etag = _etag(digest)
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": cache}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if not store.exists(digest):
        raise NotFound("the audio file of this track is missing on the server", code="audio_missing")
    if_range = request.headers.get("if-range")
    range_header = request.headers.get("range") if if_range in (None, etag) else None
    try:
        byte_range: ByteRange | None = parse_range(range_header, size)
    except Unsatisfiable as exc:
        raise RangeNotSatisfiable(
            f"the range lies outside the {size} bytes of this file",
            headers={"Content-Range": f"bytes */{size}"},
        ) from exc
    if byte_range is None:
        start, stop, status = 0, size, 200
    else:
        start, stop, status = byte_range.first, byte_range.last + 1, 206
        headers["Content-Range"] = byte_range.content_range
    headers["Content-Length"] = str(stop - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        _body(store, digest, start, stop), status_code=status, headers=headers, media_type=media_type
    )


@router.get("/api/tracks/{track_id}/stream", summary="Stream a track's audio (HEAD works too)")
@router.head("/api/tracks/{track_id}/stream", include_in_schema=False)
async def stream_track(
    track_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The audio bytes, honouring ``Range`` (single and suffix ranges), ``If-Range`` and ``If-None-Match``."""
    track = await repo.get_track_entity(session, track_id)
    if track is None:
        raise NotFound("no such track")
    if track.file_path is None:
        raise NotFound(
            "this track's audio is held by a peer; remote playback is not available yet", code="audio_remote"
        )
    media_type = AUDIO_MIME.get(track.format, "application/octet-stream")
    return media_response(
        request,
        context.audio,
        track.content_hash,
        track.file_size,
        media_type,
        cache="private, max-age=86400",
    )


def _cover_response(request: Request, store: BlobStore, cover: Cover | None) -> Response:
    if cover is None:
        raise NotFound("no cover art", code="no_cover")
    try:
        return media_response(request, store, cover.hash, cover.size, cover.mime, cache="private, max-age=300")
    except BlobNotFound as exc:
        raise NotFound("the cover file is missing on the server", code="cover_missing") from exc


@router.get("/api/albums/{album_id}/cover", summary="An album's cover art")
async def album_cover(
    album_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The cover image of an album."""
    return _cover_response(request, context.blobs, await repo.cover_of_album(session, album_id))


@router.get("/api/tracks/{track_id}/cover", summary="A track's cover art (its album's)")
async def track_cover(
    track_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The cover image of the album a track belongs to."""
    return _cover_response(request, context.blobs, await repo.cover_of_track(session, track_id))
