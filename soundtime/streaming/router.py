"""Audio streaming and cover art over HTTP: conditional requests, single and suffix byte ranges, HEAD, transcoding."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from soundtime.auth.dependencies import MediaClaims
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import Unprocessable
from soundtime.kit.openapi import errors
from soundtime.streaming import service
from soundtime.streaming.responses import media_response, original_audio_response
from soundtime.streaming.transcode import Format, TranscodeOptions
from soundtime.streaming.transcode.http import transcode_response
from soundtime.streaming.transcode.options import MAX_OFFSET

router = APIRouter(tags=["streaming"])

_BYTES = {"schema": {"type": "string", "format": "binary"}}
_MEDIA: dict[int | str, dict[str, object]] = {
    200: {"description": "the whole file", "content": {"audio/*": _BYTES, "image/*": _BYTES}},
    206: {"description": "the byte range asked for (Content-Range)", "content": {"audio/*": _BYTES, "image/*": _BYTES}},
    **errors(304, (416, "the range lies outside the file (Content-Range: bytes */size)")),
}
_AUDIO = {
    **_MEDIA,
    **errors(
        (410, "a replicated track that was dereferenced (no peer holds it any more)"),
        (503, "a replicated track whose peers cannot send it now, federation is off, or the transcoders are busy"),
    ),
}

_STREAM_DESCRIPTION = """The audio bytes.

Without `format` (or with `format=raw`): the file as stored, byte for byte, honouring `Range` (single and suffix
ranges), `If-Range` and `If-None-Match`. A replicated track is fetched from a peer on demand and streamed while it
arrives (410 once dereferenced).

With `format=opus` (Ogg Opus) or `format=mp3`: the track transcoded at `bitrate` kbps (default
`TRANSCODE_OPUS_BITRATE` / `TRANSCODE_MP3_BITRATE`; MP3 is rounded down to a standard rate, Opus to a multiple
of 8), starting `offset` seconds in (sample-exact). A transcode made earlier from the start is served from the cache
with `Content-Length`, `ETag` and ranges; otherwise the bytes are sent as they are encoded, without
`Content-Length` (`Accept-Ranges: none`: seek with `offset`). `X-Content-Duration` gives the seconds of audio.
503 `busy` (with `Retry-After`) when the server already runs `TRANSCODE_MAX_CONCURRENT` transcodes.
"""


@router.get(
    "/api/tracks/{track_id}/stream",
    summary="Stream a track's audio, as stored or transcoded (HEAD too)",
    description=_STREAM_DESCRIPTION,
    response_class=Response,
    responses=_AUDIO,
)
@router.head("/api/tracks/{track_id}/stream", include_in_schema=False)
async def stream_track(
    track_id: uuid.UUID,
    request: Request,
    *,
    _: MediaClaims,
    context: ContextDep,
    format: Annotated[
        Literal["raw", "opus", "mp3"] | None,
        Query(description="`opus` or `mp3` to transcode; `raw` (default): as stored"),
    ] = None,
    bitrate: Annotated[int | None, Query(ge=1, le=10_000, description="kbps of the transcode")] = None,
    offset: Annotated[
        float | None, Query(ge=0, le=MAX_OFFSET, allow_inf_nan=False, description="seconds into the track to start at")
    ] = None,
) -> Response:
    if format is None or format == "raw":
        if bitrate is not None or offset is not None:
            raise Unprocessable(
                "bitrate and offset apply to transcoded streams: add format=opus or format=mp3", code="invalid"
            )
        return await original_audio_response(request, context, track_id)
    fmt = Format(format)
    default = context.settings.transcode_opus_bitrate if fmt is Format.OPUS else context.settings.transcode_mp3_bitrate
    options = TranscodeOptions.strict(fmt, bitrate or default, offset or 0.0)
    return await transcode_response(request, context, track_id, options)


@router.get("/api/albums/{album_id}/cover", summary="An album's cover art", response_class=Response, responses=_MEDIA)
@router.head("/api/albums/{album_id}/cover", include_in_schema=False)
async def album_cover(
    album_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The cover image of an album."""
    return await media_response(request, await service.album_cover(session, context.blobs, album_id))


@router.get(
    "/api/tracks/{track_id}/cover",
    summary="A track's cover art (its album's)",
    response_class=Response,
    responses=_MEDIA,
)
@router.head("/api/tracks/{track_id}/cover", include_in_schema=False)
async def track_cover(
    track_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The cover image of the album a track belongs to."""
    return await media_response(request, await service.track_cover(session, context.blobs, track_id))
