"""Audio streaming and cover art over HTTP: conditional requests, single and suffix byte ranges, HEAD."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from soundtime.auth.dependencies import MediaClaims
from soundtime.blobs.store import BlobNotFound
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import NotFound, RangeNotSatisfiable
from soundtime.streaming import service
from soundtime.streaming.ranges import Unsatisfiable, parse_range

router = APIRouter(tags=["streaming"])


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


async def _chain(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()  # closes the file at once when the listener goes away


async def media_response(request: Request, media: service.Media) -> Response:
    """Serve a stored blob with ETag, ``If-None-Match``, ``If-Range`` and one byte range.

    The blob is opened (and its first chunk read) before the status line is sent, so a blob that vanished
    is a clean 404 rather than a response cut off after its headers.
    """
    etag = f'"{media.digest}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": media.cache}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if_range = request.headers.get("if-range")
    range_header = request.headers.get("range") if if_range in (None, etag) else None
    try:
        byte_range = parse_range(range_header, media.size)
    except Unsatisfiable as exc:
        raise RangeNotSatisfiable(
            f"the range lies outside the {media.size} bytes of this file",
            headers={"Content-Range": f"bytes */{media.size}"},
        ) from exc
    start, stop, status = (0, media.size, 200) if byte_range is None else (byte_range.first, byte_range.last + 1, 206)
    if byte_range is not None:
        headers["Content-Range"] = byte_range.content_range
    headers["Content-Length"] = str(stop - start)
    missing = NotFound("the file is missing on the server", code="file_missing")
    if request.method == "HEAD":
        if not media.store.exists(media.digest):
            raise missing
        return Response(status_code=status, headers=headers, media_type=media.media_type)
    body = media.store.aread_range(media.digest, start, stop)
    try:
        first = await anext(body, b"")
    except BlobNotFound as exc:
        raise missing from exc
    return StreamingResponse(_chain(first, body), status_code=status, headers=headers, media_type=media.media_type)


@router.get("/api/tracks/{track_id}/stream", summary="Stream a track's audio (HEAD works too)")
@router.head("/api/tracks/{track_id}/stream", include_in_schema=False)
async def stream_track(
    track_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The audio bytes, honouring ``Range`` (single and suffix ranges), ``If-Range`` and ``If-None-Match``."""
    return await media_response(request, await service.track_audio(session, context.audio, track_id))


@router.get("/api/albums/{album_id}/cover", summary="An album's cover art")
@router.head("/api/albums/{album_id}/cover", include_in_schema=False)
async def album_cover(
    album_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The cover image of an album."""
    return await media_response(request, await service.album_cover(session, context.blobs, album_id))


@router.get("/api/tracks/{track_id}/cover", summary="A track's cover art (its album's)")
@router.head("/api/tracks/{track_id}/cover", include_in_schema=False)
async def track_cover(
    track_id: uuid.UUID, request: Request, _: MediaClaims, session: SessionDep, context: ContextDep
) -> Response:
    """The cover image of the album a track belongs to."""
    return await media_response(request, await service.track_cover(session, context.blobs, track_id))
