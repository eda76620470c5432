"""Media responses: a stored blob with ranges, and a track's original audio (stored or fetched from a peer).

The REST routes and the Subsonic API both answer with these.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from soundtime.blobs.store import BlobNotFound
from soundtime.context import AppContext
from soundtime.kit.errors import NotFound
from soundtime.streaming import remote, service
from soundtime.streaming.media import Media
from soundtime.streaming.plan import plan_response


async def _chain(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()  # closes the file at once when the listener goes away


async def media_response(request: Request, media: Media) -> Response:
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


async def original_audio_response(request: Request, context: AppContext, track_id: uuid.UUID) -> Response:
    """A track's audio as stored, byte for byte, with ranges; a replicated track is fetched from a peer."""
    context.last_play.mark()
    async with context.db.transaction() as session:  # not held while a peer is being asked for the audio
        audio = await service.track_audio(session, context, track_id)
    if isinstance(audio, Media):
        return await media_response(request, audio)
    return await remote.remote_response(request, context, audio)
