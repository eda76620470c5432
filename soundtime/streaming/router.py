"""Audio streaming and cover art over HTTP: conditional requests, single and suffix byte ranges, HEAD."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from soundtime.auth.dependencies import MediaClaims
from soundtime.blobs.store import BlobNotFound
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import NotFound
from soundtime.streaming import remote, service
from soundtime.streaming.plan import plan_response

router = APIRouter(tags=["streaming"])


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
    plan = plan_response(request, media.digest, media.size, media.cache)
    if isinstance(plan, Response):
        return plan
    missing = NotFound("the file is missing on the server", code="file_missing")
    if request.method == "HEAD":
        if not media.store.exists(media.digest):
            raise missing
        return Response(status_code=plan.status, headers=plan.headers, media_type=media.media_type)
    body = media.store.aread_range(media.digest, plan.start, plan.stop)
    try:
        first = await anext(body, b"")
    except BlobNotFound as exc:
        raise missing from exc
    return StreamingResponse(
        _chain(first, body), status_code=plan.status, headers=plan.headers, media_type=media.media_type
    )


@router.get("/api/tracks/{track_id}/stream", summary="Stream a track's audio (HEAD works too)")
@router.head("/api/tracks/{track_id}/stream", include_in_schema=False)
async def stream_track(track_id: uuid.UUID, request: Request, _: MediaClaims, context: ContextDep) -> Response:
    """The audio bytes, honouring ``Range`` (single and suffix ranges), ``If-Range`` and ``If-None-Match``.

    A replicated track is fetched from a peer on demand and streamed while it arrives (410 once dereferenced).
    """
    async with context.db.transaction() as session:  # not held while a peer is being asked for the audio
        audio = await service.track_audio(session, context, track_id)
    if isinstance(audio, service.Media):
        return await media_response(request, audio)
    return await remote.remote_response(request, context, audio)


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
