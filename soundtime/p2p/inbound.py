"""Requests peers send us: one frame per stream, one small handler per message type (spec §4)."""

from __future__ import annotations

import logging
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from soundtime.blobs.errors import BlobNotFound
from soundtime.kit.ratelimit import RateLimiter
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.transport import CloseCode, PeerConnection, Stream, StreamCode, TransportError
from soundtime.p2p.validation import HEX64
from soundtime.search import repository as search_repo

if TYPE_CHECKING:
    from soundtime.p2p.node import P2PNode

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
#: Most results we return to a SearchQuery, whatever limit it asks for.
MAX_SEARCH_RESULTS = 100

Handler = Callable[[PeerConnection, Stream, Any], Awaitable[None]]


class Inbound:
    """Reads one request per stream and runs its handler; a bad frame ends that stream only."""

    def __init__(self, node: P2PNode) -> None:
        self.node = node
        timings, limits = node.policy.timings, node.policy.limits
        self._frames = RateLimiter(limits.frames_per_window, timings.frame_window, max_keys=2_000)
        self._offences = RateLimiter(limits.offences_per_minute, 60.0, max_keys=10_000)
        self._catalog_requests = RateLimiter(1, timings.catalog_request_interval, max_keys=10_000)
        self._heartbeats: OrderedDict[str, tuple[wire.Pong, float]] = OrderedDict()
        self._handlers: dict[type[Any], Handler] = {
            wire.Ping: self._ping,
            wire.PeerExchange: self._peer_exchange,
            wire.AnnounceTrack: self._announce,
            wire.CatalogSync: self._catalog_sync,
            wire.CatalogDelta: self._catalog_delta,
            wire.RequestCatalog: self._request_catalog,
            wire.FetchTrack: self._fetch_track,
            wire.Pong: self._pong,
            wire.SearchQuery: self._search,
            wire.BloomExchange: self._bloom_exchange,
        }

    async def dispatch(self, conn: PeerConnection, stream: Stream) -> None:
        """Serve one stream opened by a peer (the transport finishes it after we return)."""
        sender = conn.node_id
        if self.node.is_blocked(sender):
            conn.close(CloseCode.BLOCKED, b"blocked")
            return
        if self._frames.hit(sender) > 0:
            await stream.abort(StreamCode.REFUSED)
            return
        try:
            body = await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=self.node.policy.timings.request_timeout)
            message = wire.decode(body)
        except (wire.ProtocolError, TransportError) as exc:
            await self._offence(conn, stream, exc)
            return
        handler = self._handlers.get(type(message))
        if handler is not None:  # TrackData and SearchResults as requests: nothing to do
            await handler(conn, stream, message)

    async def _offence(self, conn: PeerConnection, stream: Stream, exc: Exception) -> None:
        log.info("peer %s sent a bad request: %s", conn.node_id[:16], exc)
        await stream.abort(StreamCode.PROTOCOL_ERROR)
        if self._offences.hit(conn.node_id) > 0:
            log.warning("peer %s keeps sending bad requests; closing its connection", conn.node_id[:16])
            conn.close(CloseCode.PROTOCOL_ERROR, b"too many malformed frames")

    async def _ping(self, conn: PeerConnection, stream: Stream, _: wire.Ping) -> None:
        await stream.write(wire.encode_frame(self.node.pong()), timeout=self.node.policy.timings.request_timeout)
        await self.node.seen_on(conn.node_id, conn.remote_addresses())
        self.node.sync.push(conn.node_id)

    async def _pong(self, conn: PeerConnection, _: Stream, message: wire.Pong) -> None:
        # An unsolicited Pong is a heartbeat of ours (SoundTime ignores them): it keeps the peer's counts fresh.
        # Recorded when something changed, else once per heartbeat_record_interval (heartbeats come every 5 s).
        if message.node_id != conn.node_id:
            return
        now = time.monotonic()
        last = self._heartbeats.get(conn.node_id)
        if (
            last is not None
            and last[0] == message
            and now - last[1] < self.node.policy.timings.heartbeat_record_interval
        ):
            return
        self._heartbeats[conn.node_id] = (message, now)
        self._heartbeats.move_to_end(conn.node_id)
        if len(self._heartbeats) > self.node.policy.limits.max_remembered_heartbeats:
            self._heartbeats.popitem(last=False)
        await self.node.record_pong(conn.node_id, message)

    async def _search(self, conn: PeerConnection, stream: Stream, message: wire.SearchQuery) -> None:
        # Every matching track of our library; we name ourselves as the source when we can serve its bytes
        # (our own tracks, and cached copies when we serve the cache), else the track's origin.
        limit = min(message.limit, MAX_SEARCH_RESULTS)
        async with self.node.db.transaction() as session:
            found = await search_repo.search_tracks(session, message.query[:256], limit) if limit else []
        serve_cache = self.node.policy.serve_cache
        results = []
        for row, rank in found:
            track, origin = row.track, row.track.origin_node
            servable = origin is None or (serve_cache and track.content_hash in self.node.cache)
            results.append(
                wire.SearchResultItem(
                    hash=track.content_hash,
                    title=track.title,
                    artist_name=row.artist.name,
                    album_title=row.album.title if row.album is not None else None,
                    duration_secs=track.duration_secs,
                    format=track.format,
                    genre=track.genre,
                    year=track.year,
                    bitrate=track.bitrate_kbps,
                    source_node=self.node.node_id if servable or origin is None else origin,
                    musicbrainz_id=None,
                    relevance=rank,
                )
            )
        reply = wire.SearchResults(request_id=message.request_id, results=results, total=len(results))
        await stream.write(wire.encode_frame(reply), timeout=self.node.policy.timings.request_timeout)

    async def _bloom_exchange(self, conn: PeerConnection, _: Stream, message: wire.BloomExchange) -> None:
        self.node.filters.receive(conn.node_id, message.bloom)  # an unusable filter is logged and ignored

    async def _peer_exchange(self, conn: PeerConnection, stream: Stream, message: wire.PeerExchange) -> None:
        reply = await self.node.exchange_message()
        await stream.write(wire.encode_frame(reply), timeout=self.node.policy.timings.request_timeout)
        await self.node.learn(conn.node_id, message)

    async def _announce(self, conn: PeerConnection, _: Stream, message: wire.AnnounceTrack) -> None:
        await self.node.sync.replicate(conn.node_id, [message.track])

    async def _catalog_sync(self, conn: PeerConnection, _: Stream, message: wire.CatalogSync) -> None:
        started = time.perf_counter()
        result = await self.node.sync.replicate(conn.node_id, message.tracks)
        self.node.resyncs.page_received(conn.node_id, len(message.tracks), result.accepted, result.skipped)
        log.debug(
            "catalog page from %s: %d accepted, %d skipped in %.0f ms",
            conn.node_id[:16],
            result.accepted,
            result.skipped,
            (time.perf_counter() - started) * 1000,
        )

    async def _catalog_delta(self, conn: PeerConnection, _: Stream, message: wire.CatalogDelta) -> None:
        await self.node.sync.replicate(conn.node_id, message.tracks)

    async def _request_catalog(self, conn: PeerConnection, _: Stream, __: wire.RequestCatalog) -> None:
        if self._catalog_requests.hit(conn.node_id) == 0:
            self.node.sync.push(conn.node_id, full=True, min_interval=0)

    async def _fetch_track(self, conn: PeerConnection, stream: Stream, message: wire.FetchTrack) -> None:
        digest = message.hash
        store = None
        if HEX64.fullmatch(digest) is not None:
            async with self.node.db.transaction() as session:
                kind = await repo.servable_digest(session, digest)
            store = {"audio": self.node.audio, "cover": self.node.blobs}.get(kind or "")
            if store is None and self.node.policy.serve_cache and digest in self.node.cache:
                store = self.node.cache.store  # verified when it entered the cache
        size = store.size(digest) if store is not None else None
        if store is None or not size or size >= 1 << 32:
            await stream.write(struct.pack(">I", 0), timeout=self.node.policy.timings.send_stall_timeout)
            return
        try:
            chunks = store.aread_range(digest, chunk_size=CHUNK)
            first = True
            async for chunk in chunks:
                payload = struct.pack(">I", size) + chunk if first else chunk
                first = False
                await stream.write(payload, timeout=self.node.policy.timings.send_stall_timeout)
        except BlobNotFound:
            await stream.write(struct.pack(">I", 0), timeout=self.node.policy.timings.send_stall_timeout)
