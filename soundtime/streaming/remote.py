"""Streaming a replicated track while it is fetched from a peer (ranges wait for the bytes they need)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from soundtime.context import AppContext
from soundtime.kit.aborts import ResponseAborted
from soundtime.kit.errors import ServiceUnavailable
from soundtime.p2p.face import Download, DownloadFailed, RemoteTrack, TooManyTransfers
from soundtime.streaming import service
from soundtime.streaming.media import AUDIO_CACHE
from soundtime.streaming.plan import Plan, plan_response

CHUNK = 256 * 1024


async def remote_response(request: Request, context: AppContext, track: RemoteTrack) -> Response:
    """Answer a media request for a replicated track by fetching it from its best source.

    The headers go out as soon as a peer starts sending; the body follows the transfer. If the transfer fails
    (the peer vanishes, or the bytes do not match the hash) the response is aborted, so the listener sees an
    incomplete body rather than silently wrong audio.
    """
    plan = plan_response(request, track.content_hash, track.file_size, AUDIO_CACHE)
    if isinstance(plan, Response):
        return plan
    media_type = service.audio_type(track.format)
    if request.method == "HEAD":
        return Response(status_code=plan.status, headers=plan.headers, media_type=media_type)
    return _FollowingResponse(await open_download(context, track), plan, media_type)


async def open_download(context: AppContext, track: RemoteTrack) -> Download:
    """Join or start the transfer of a replicated track; returns once a peer is sending. Release it when done.

    503 ``p2p_disabled`` without federation, ``busy`` when the node fetches as much as it allows at once,
    ``peer_unavailable`` when no peer could start sending.
    """
    if context.p2p is None:
        raise ServiceUnavailable("this track's audio is held by a peer and federation is disabled", code="p2p_disabled")
    try:
        return await context.p2p.downloads.open(track)
    except TooManyTransfers as exc:
        raise ServiceUnavailable(f"{exc}; try again in a moment", code="busy") from exc
    except DownloadFailed as exc:
        raise ServiceUnavailable(f"no peer could provide this track right now: {exc}", code="peer_unavailable") from exc


class _FollowingResponse(StreamingResponse):
    """Streams a range of a running transfer; the listener's hold on it ends with the response, however it ends."""

    def __init__(self, download: Download, plan: Plan, media_type: str) -> None:
        self._download = download
        body = _follow(download, plan.start, plan.stop)
        super().__init__(body, status_code=plan.status, headers=plan.headers, media_type=media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._download.release()


async def _follow(download: Download, start: int, stop: int) -> AsyncIterator[bytes]:
    try:
        pos = start
        while pos < stop:
            chunk = await download.read(pos, CHUNK, stop)
            pos += len(chunk)
            yield chunk
    except DownloadFailed as exc:
        raise ResponseAborted(str(exc)) from exc
