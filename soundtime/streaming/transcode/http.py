"""Transcoded streams over HTTP: a finished transcode with ranges and validators, a live one as it is encoded."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from soundtime.context import AppContext
from soundtime.kit.errors import NotFound
from soundtime.streaming.responses import media_response
from soundtime.streaming.transcode.options import TranscodeOptions
from soundtime.streaming.transcode.pool import CachedTranscode, LiveTranscode, Transcoded
from soundtime.streaming.transcode.service import lookup_transcode, open_transcode

log = logging.getLogger(__name__)

#: A live transcode has no length and no ranges (its bytes do not exist yet); caches must not keep it.
LIVE_HEADERS = {"Accept-Ranges": "none", "Cache-Control": "no-store"}


async def transcode_response(
    request: Request,
    context: AppContext,
    track_id: uuid.UUID,
    options: TranscodeOptions,
    *,
    estimate_length: bool = False,
) -> Response:
    """Answer a request for a transcoded stream (GET or HEAD).

    A finished transcode comes from the cache like any stored file: ``Content-Length``, ``ETag``, ``Range``,
    ``If-Range`` and ``If-None-Match`` all work. Otherwise the transcode runs now and its bytes are sent as they
    are encoded, without ranges (``Accept-Ranges: none``; a ``Range`` header is ignored and the whole stream sent):
    seek with the ``offset`` instead. ``X-Content-Duration`` gives the length of the audio in seconds when it is
    known. A live transcode has no ``Content-Length``, unless ``estimate_length`` asks for one (and the track's
    length is known): then it is :meth:`TranscodeOptions.estimated_size`, and exactly that many bytes are sent —
    the stream followed by zero bytes, which decoders skip as padding (cut short in the rare case a track is
    longer than its tags say). Errors are those of :func:`open_transcode`.
    """
    context.last_play.mark()
    if request.method == "HEAD":
        cached, duration_s = await lookup_transcode(context, track_id, options)
        if cached is not None:
            return await _cached_response(request, cached)
        # no Content-Length unless estimated: a live transcode's length is not known (a plain Response would
        # claim 0 bytes)
        headers = _live_headers(duration_s)
        if estimate_length and duration_s is not None:
            headers["Content-Length"] = str(options.estimated_size(duration_s))
        return StreamingResponse(_nothing(), headers=headers, media_type=options.media_type)
    transcoded = await open_transcode(context, track_id, options)
    if isinstance(transcoded, CachedTranscode):
        try:
            return await _cached_response(request, transcoded)
        except NotFound:  # evicted since the lookup: make it again
            transcoded = await open_transcode(context, track_id, options, use_cache=False)
    assert isinstance(transcoded, LiveTranscode)
    if estimate_length and transcoded.duration_s is not None:
        return LiveTranscodeResponse(transcoded, length=options.estimated_size(transcoded.duration_s))
    return LiveTranscodeResponse(transcoded)


async def _cached_response(request: Request, cached: CachedTranscode) -> Response:
    response = await media_response(request, cached.media)
    if cached.duration_s is not None:
        response.headers["X-Content-Duration"] = f"{cached.duration_s:.3f}"
    return response


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


def _live_headers(duration_s: float | None) -> dict[str, str]:
    headers = dict(LIVE_HEADERS)
    if duration_s is not None:
        headers["X-Content-Duration"] = f"{duration_s:.3f}"
    return headers


class LiveTranscodeResponse(StreamingResponse):
    """Streams a live transcode; the transcode is stopped when the response ends, however it ends.

    With a ``length``, exactly that many bytes are sent (``Content-Length``): the transcode padded with zero bytes,
    or cut at ``length``.
    """

    def __init__(self, transcoded: Transcoded, *, length: int | None = None) -> None:
        self._transcoded = transcoded
        headers = _live_headers(transcoded.duration_s)
        body = transcoded.chunks()
        if length is not None:
            headers["Content-Length"] = str(length)
            body = _exactly(body, length)
        super().__init__(body, headers=headers, media_type=transcoded.media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._transcoded.aclose()


#: Zero bytes of padding are sent in pieces of this size.
_PADDING = bytes(64 * 1024)


async def _exactly(chunks: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    """``length`` bytes: ``chunks`` (cut short if longer), then zero bytes."""
    left = length
    async for chunk in chunks:
        if len(chunk) >= left:
            if len(chunk) > left:
                log.info("a transcode was longer than its estimated length (%d bytes): cut", length)
            yield chunk[:left]
            return
        left -= len(chunk)
        yield chunk
    while left:
        piece = _PADDING[: min(left, len(_PADDING))]
        left -= len(piece)
        yield piece
