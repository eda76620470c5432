"""Catalog sync with peers: pushing our catalog (full or delta, rate-limited), announcing uploads, replicating
what peers announce, and fetching their covers."""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from soundtime.kit import metrics
from soundtime.library.tags import MAX_COVER_BYTES, image_mime
from soundtime.p2p import catalog, wire
from soundtime.p2p import repository as repo
from soundtime.p2p.errors import PeerError, PeerUnavailable

if TYPE_CHECKING:
    from soundtime.p2p.node import P2PNode

log = logging.getLogger(__name__)

#: How our nodes' version strings end (peers without it are treated as SoundTime nodes).
VERSION_SUFFIX = "-soundtime-py"


class CatalogSync:
    """The catalog side of a node: one per :class:`P2PNode`."""

    def __init__(self, node: P2PNode) -> None:
        self.node = node
        self._pushes: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, bool] = {}  # pushes requested while one ran: {peer: full?}
        self._push_slots = asyncio.Semaphore(node.policy.limits.concurrent_pushes)
        self._cover_slots = asyncio.Semaphore(node.policy.limits.concurrent_cover_fetches)
        self._covers_in_flight: set[str] = set()
        #: One ingest at a time per sender (its quota is checked inside); a lock lives while someone holds it.
        self._ingest_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def cancel_push(self, node_id: str) -> None:
        """Stop a running push to a peer (it was blocked)."""
        self._again.pop(node_id, None)
        if (push := self._pushes.pop(node_id, None)) is not None:
            push.cancel()

    def push(self, node_id: str, *, full: bool = False, min_interval: float | None = None) -> None:
        """Push our catalog to a peer in the background, unless one ran recently (``min_interval`` seconds).

        A push requested while another runs to the same peer follows it (requests meanwhile are merged); only
        a rate-limited one (``min_interval`` > 0) is dropped.
        """
        if self.node.is_blocked(node_id):
            return
        running = self._pushes.get(node_id)
        if running is not None and not running.done():
            if full or min_interval == 0:
                self._again[node_id] = full or self._again.get(node_id, False)
            return
        interval = self.node.policy.timings.push_min_interval if min_interval is None else min_interval
        task = self.node.spawn(self._push(node_id, full=full, min_interval=interval), f"catalog push {node_id[:16]}")
        self._pushes[node_id] = task
        task.add_done_callback(functools.partial(self._push_done, node_id))

    def _push_done(self, node_id: str, task: asyncio.Task[None]) -> None:
        if self._pushes.get(node_id) is task:
            del self._pushes[node_id]
        full = self._again.pop(node_id, None)
        if full is not None and not task.cancelled():
            self.push(node_id, full=full, min_interval=0)

    async def _push(self, node_id: str, *, full: bool, min_interval: float) -> None:
        async with self._push_slots:
            try:
                await self._push_pages(node_id, full=full, min_interval=min_interval)
            except* PeerUnavailable as failures:
                await self.node.record_failure(node_id)
                raise failures.exceptions[0] from None

    async def _push_pages(self, node_id: str, *, full: bool, min_interval: float) -> None:
        async with self.node.db.transaction() as session:
            peer = await repo.claim_push(session, node_id, min_interval)
            started = await repo.database_now(session)
        if peer is None:
            return
        since = None if full else peer.sync_watermark
        sent = 0
        # Pages in flight to one peer of ours (it ingests one while the next travel; measured 4 > 2 > 1); SoundTime
        # peers handle a connection's streams one at a time, so they get one page at a time.
        ours = (peer.version or "").endswith(VERSION_SUFFIX)
        window = asyncio.Semaphore(self.node.policy.limits.push_window if ours else 1)
        async with asyncio.TaskGroup() as group:
            async for page in catalog.catalog_pages(self.node.db, self.node.node_id, since):
                message: wire.Message = (
                    wire.CatalogSync(tracks=page) if since is None else wire.CatalogDelta(since=since, tracks=page)
                )
                await window.acquire()
                group.create_task(self.node.messenger.send(node_id, message)).add_done_callback(
                    lambda _: window.release()
                )
                sent += len(page)
        async with self.node.db.transaction() as session:
            await repo.mark_pushed(
                session, node_id, started - timedelta(seconds=self.node.policy.timings.watermark_margin)
            )
        if sent:
            log.info("pushed %d tracks to %s (%s)", sent, node_id[:16], "delta" if since else "full catalog")

    async def announce(self) -> None:
        """Push our new tracks to every online peer now (a delta since each peer's watermark)."""
        self.node.filters.mark_dirty()
        async with self.node.db.transaction() as session:
            online = [p.node_id for p in await repo.list_peers(session) if p.is_online]
            self.node.own_track_count = await repo.own_track_count(session)
        for node_id in online:
            self.push(node_id, min_interval=0)

    async def replicate(self, sender: str, tracks: Sequence[wire.TrackAnnouncement]) -> catalog.Replicated:
        """Ingest announcements from ``sender`` (one transaction at a time per sender), then fetch missing covers."""
        lock = self._ingest_locks.setdefault(sender, asyncio.Lock())
        async with lock:
            if self.node.is_blocked(sender):
                return catalog.Replicated(skipped=len(tracks))
            async with self.node.db.transaction() as session:
                limits = self.node.policy.limits
                result = await catalog.replicate(
                    session, sender, tracks, quota=limits.max_tracks_per_peer, per_message=limits.max_tracks_per_message
                )
        metrics.catalog_ingested(result.accepted, result.skipped)
        if result.accepted:
            self.node.filters.mark_dirty()
        room = self.node.policy.limits.max_pending_covers - len(self._covers_in_flight)
        wanted = [h for h in result.missing_covers if h not in self._covers_in_flight][: max(room, 0)]
        for digest in wanted:
            self._covers_in_flight.add(digest)
            self.node.spawn(self._fetch_cover(sender, digest, result.missing_covers[digest]), f"cover {digest[:16]}")
        return result

    async def _fetch_cover(self, sender: str, digest: str, album_ids: list[Any]) -> None:
        """Fetch one cover from ``sender`` (verified, bounded in time), then show it on the albums that want it."""
        try:
            async with self._cover_slots:
                if self.node.is_blocked(sender):
                    return
                try:
                    async with asyncio.timeout(self.node.policy.timings.cover_fetch_deadline):
                        ref = await self.node.messenger.fetch_blob(
                            sender, digest, self.node.blobs, max_size=MAX_COVER_BYTES
                        )
                except (PeerError, TimeoutError) as exc:
                    metrics.blob_fetched("cover", ok=False)
                    log.info("cover %s from %s: %s", digest[:16], sender[:16], exc or "took too long")
                    return
            mime = image_mime(await asyncio.to_thread(self.node.blobs.read_bytes, digest, max_size=ref.size))
            if mime is None:
                log.info("cover %s from %s is not an image; ignored", digest[:16], sender[:16])
                return
            async with self.node.db.transaction() as session:
                await repo.add_cover(session, digest, mime, ref.size, album_ids)
            metrics.blob_fetched("cover", ok=True)
        finally:
            self._covers_in_flight.discard(digest)
