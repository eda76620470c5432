"""Transcoded streams over HTTP: a finished transcode with ranges and validators, a live one as it is encoded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from soundtime.context import AppContext
from soundtime.kit.errors import NotFound
from soundtime.streaming.responses import media_response
from soundtime.streaming.transcode.options import TranscodeOptions
from soundtime.streaming.transcode.service import (
    CachedTranscode,
    LiveTranscode,
    Transcoded,
    lookup_transcode,
    open_transcode,
)

#: A live transcode has no length and no ranges (its bytes do not exist yet); caches must not keep it.
LIVE_HEADERS = {"Accept-Ranges": "none", "Cache-Control": "no-store"}


async def transcode_response(
    request: Request, context: AppContext, track_id: uuid.UUID, options: TranscodeOptions
) -> Response:
    """Answer a request for a transcoded stream (GET or HEAD).

    A finished transcode comes from the cache like any stored file: ``Content-Length``, ``ETag``, ``Range``,
    ``If-Range`` and ``If-None-Match`` all work. Otherwise the transcode runs now and its bytes are sent as they
    are encoded, without ``Content-Length`` and without ranges (``Accept-Ranges: none``; a ``Range`` header is
    ignored and the whole stream sent): seek with the ``offset`` instead. ``X-Content-Duration`` gives the length
    of the audio in seconds when it is known. Errors are those of :func:`open_transcode`.
    """
    if request.method == "HEAD":
        cached = await lookup_transcode(context, track_id, options)
        if cached is not None:
            return await _cached_response(request, cached)
        # no Content-Length: a live transcode's length is not known (a plain Response would claim 0 bytes)
        return StreamingResponse(_nothing(), headers=_live_headers(None), media_type=options.media_type)
    transcoded = await open_transcode(context, track_id, options)
    if isinstance(transcoded, CachedTranscode):
        try:
            return await _cached_response(request, transcoded)
        except NotFound:  # evicted since the lookup: make it again
            transcoded = await open_transcode(context, track_id, options, use_cache=False)
    assert isinstance(transcoded, LiveTranscode)
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
    """Streams a live transcode; the transcode is stopped when the response ends, however it ends."""

    def __init__(self, transcoded: Transcoded) -> None:
        self._transcoded = transcoded
        super().__init__(
            transcoded.chunks(),
            headers=_live_headers(transcoded.duration_s),
            media_type=transcoded.media_type,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._transcoded.aclose()
