"""Requests peers send us: one frame per stream, dispatched by message type to the handler its owner registered
(spec §4). This module only applies the per-peer limits: blocked peers, request rate, malformed frames."""

from __future__ import annotations

import logging
from typing import Any

from soundtime.kit.ratelimit import RateLimiter
from soundtime.p2p import wire
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Blocklist, Handler
from soundtime.p2p.transport import CloseCode, PeerConnection, Stream, StreamCode, TransportError

log = logging.getLogger(__name__)


class Inbound:
    """Reads one request per stream and runs its handler; a bad frame ends that stream only.

    Message types nobody registered (TrackData and SearchResults as requests, for instance) are read and dropped.
    """

    def __init__(self, blocklist: Blocklist, policy: Policy) -> None:
        self._blocklist = blocklist
        self._policy = policy
        timings, limits = policy.timings, policy.limits
        self.frames = RateLimiter(limits.frames_per_window, timings.frame_window, max_keys=2_000)
        self._offences = RateLimiter(limits.offences_per_minute, 60.0, max_keys=10_000)
        self._handlers: dict[type[Any], Handler] = {}

    def register(self, kind: type[wire.Message], handler: Handler) -> None:
        """Serve requests of type ``kind`` with ``handler`` (one handler per type)."""
        if kind in self._handlers:
            raise ValueError(f"{kind.__name__} already has a handler")
        self._handlers[kind] = handler

    async def dispatch(self, conn: PeerConnection, stream: Stream) -> None:
        """Serve one stream opened by a peer (the transport finishes it after we return)."""
        sender = conn.node_id
        if self._blocklist.is_blocked(sender):
            conn.close(CloseCode.BLOCKED, b"blocked")
            return
        if self.frames.hit(sender) > 0:
            await stream.abort(StreamCode.REFUSED)
            return
        try:
            body = await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=self._policy.timings.request_timeout)
            message = wire.decode(body)
        except (wire.ProtocolError, TransportError) as exc:
            await self._offence(conn, stream, exc)
            return
        handler = self._handlers.get(type(message))
        if handler is not None:
            await handler(conn, stream, message)

    async def _offence(self, conn: PeerConnection, stream: Stream, exc: Exception) -> None:
        log.info("peer %s sent a bad request: %s", conn.node_id[:16], exc)
        await stream.abort(StreamCode.PROTOCOL_ERROR)
        if self._offences.hit(conn.node_id) > 0:
            log.warning("peer %s keeps sending bad requests; closing its connection", conn.node_id[:16])
            conn.close(CloseCode.PROTOCOL_ERROR, b"too many malformed frames")
