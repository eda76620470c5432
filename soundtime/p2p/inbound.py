"""Requests peers send us: one frame per stream, one small handler per message type (spec §4)."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from soundtime.blobs.errors import BlobNotFound
from soundtime.kit.ratelimit import RateLimiter
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.transport import CloseCode, PeerConnection, Stream, StreamCode, TransportError
from soundtime.p2p.validation import HEX64

if TYPE_CHECKING:
    from soundtime.p2p.node import P2PNode

log = logging.getLogger(__name__)

#: A request frame must arrive within this time once its stream is open.
REQUEST_TIMEOUT = 30.0
#: Writing a blob to a peer fails when it accepts no byte for this long.
SEND_STALL_TIMEOUT = 30.0
CHUNK = 256 * 1024
#: Requests per peer per second, averaged over 10 s (a full catalog push is ~40 frames).
FRAMES_PER_SECOND = 50
#: Malformed frames a peer may send within a minute before its connection is closed.
OFFENCES_PER_MINUTE = 10

Handler = Callable[[PeerConnection, Stream, Any], Awaitable[None]]


class Inbound:
    """Reads one request per stream and runs its handler; a bad frame ends that stream only."""

    def __init__(self, node: P2PNode) -> None:
        self.node = node
        self._frames = RateLimiter(FRAMES_PER_SECOND * 10, 10.0)
        self._offences = RateLimiter(OFFENCES_PER_MINUTE, 60.0)
        self._handlers: dict[type[Any], Handler] = {
            wire.Ping: self._ping,
            wire.PeerExchange: self._peer_exchange,
            wire.AnnounceTrack: self._announce,
            wire.CatalogSync: self._catalog_sync,
            wire.CatalogDelta: self._catalog_delta,
            wire.RequestCatalog: self._request_catalog,
            wire.FetchTrack: self._fetch_track,
            wire.Pong: self._pong,
        }

    async def dispatch(self, conn: PeerConnection, stream: Stream) -> None:
        """Serve one stream opened by a peer (the transport finishes it after we return)."""
        sender = conn.node_id
        if self.node.is_blocked(sender):
            conn.close(CloseCode.BLOCKED, b"blocked")
            return
        if self._frames.hit(sender) > 0:
            await stream.stop(StreamCode.REFUSED)
            return
        try:
            body = await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=REQUEST_TIMEOUT)
            message = wire.decode(body)
        except (wire.ProtocolError, TransportError) as exc:
            await self._offence(conn, stream, exc)
            return
        handler = self._handlers.get(type(message))
        if handler is not None:  # TrackData, SearchResults, BloomExchange as requests: nothing to do
            await handler(conn, stream, message)

    async def _offence(self, conn: PeerConnection, stream: Stream, exc: Exception) -> None:
        log.info("peer %s sent a bad request: %s", conn.node_id[:16], exc)
        await stream.abort(StreamCode.PROTOCOL_ERROR)
        if self._offences.hit(conn.node_id) > 0:
            log.warning("peer %s keeps sending bad requests; closing its connection", conn.node_id[:16])
            conn.close(CloseCode.PROTOCOL_ERROR, b"too many malformed frames")

    async def _ping(self, conn: PeerConnection, stream: Stream, _: wire.Ping) -> None:
        await stream.write(wire.encode_frame(self.node.pong()), timeout=REQUEST_TIMEOUT)
        await self.node.seen_on(conn.node_id, conn.remote_addresses())
        self.node.push_catalog(conn.node_id)

    async def _pong(self, conn: PeerConnection, _: Stream, message: wire.Pong) -> None:
        # An unsolicited Pong is a heartbeat of ours (SoundTime ignores them): it keeps the peer's counts fresh.
        if message.node_id == conn.node_id:
            await self.node.record_pong(conn.node_id, message)

    async def _peer_exchange(self, conn: PeerConnection, stream: Stream, message: wire.PeerExchange) -> None:
        await stream.write(wire.encode_frame(await self.node.exchange_message()), timeout=REQUEST_TIMEOUT)
        await self.node.learn(conn.node_id, message)

    async def _announce(self, conn: PeerConnection, _: Stream, message: wire.AnnounceTrack) -> None:
        await self.node.replicate(conn.node_id, [message.track])

    async def _catalog_sync(self, conn: PeerConnection, _: Stream, message: wire.CatalogSync) -> None:
        started = time.perf_counter()
        result = await self.node.replicate(conn.node_id, message.tracks)
        log.debug(
            "catalog page from %s: %d accepted, %d skipped in %.0f ms",
            conn.node_id[:16],
            result.accepted,
            result.skipped,
            (time.perf_counter() - started) * 1000,
        )

    async def _catalog_delta(self, conn: PeerConnection, _: Stream, message: wire.CatalogDelta) -> None:
        await self.node.replicate(conn.node_id, message.tracks)

    async def _request_catalog(self, conn: PeerConnection, _: Stream, __: wire.RequestCatalog) -> None:
        self.node.push_catalog(conn.node_id, full=True, min_interval=self.node.timings.request_catalog_min_interval)

    async def _fetch_track(self, conn: PeerConnection, stream: Stream, message: wire.FetchTrack) -> None:
        digest = message.hash
        store = None
        if HEX64.fullmatch(digest) is not None:
            async with self.node.db.transaction() as session:
                kind = await repo.servable_digest(session, digest)
            store = {"audio": self.node.audio, "cover": self.node.blobs}.get(kind or "")
        size = store.size(digest) if store is not None else None
        if store is None or not size or size >= 1 << 32:
            await stream.write(struct.pack(">I", 0), timeout=SEND_STALL_TIMEOUT)
            return
        try:
            chunks = store.aread_range(digest, chunk_size=CHUNK)
            first = True
            async for chunk in chunks:
                payload = struct.pack(">I", size) + chunk if first else chunk
                first = False
                await stream.write(payload, timeout=SEND_STALL_TIMEOUT)
        except BlobNotFound:
            await stream.write(struct.pack(">I", 0), timeout=SEND_STALL_TIMEOUT)
