"""Catalog sync with peers: pushing our catalog (full or delta, rate-limited, coalesced per peer), announcing
uploads, replicating what peers announce (spec §4), and fetching their covers."""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from soundtime.blobs.store import BlobStore
from soundtime.kit import metrics
from soundtime.kit.activity import LastSeen
from soundtime.kit.db import Database
from soundtime.kit.jobs import JobRunner
from soundtime.kit.ratelimit import RateLimiter
from soundtime.library.tags import MAX_COVER_BYTES, image_mime
from soundtime.p2p import catalog, wire
from soundtime.p2p import repository as repo
from soundtime.p2p.errors import PeerError, PeerUnavailable
from soundtime.p2p.plans.pushes import PushQueue, Request
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import MAX_TRACK_COUNT, VERSION_SUFFIX, Blocklist, Messenger, OwnNode
from soundtime.p2p.transport import PeerConnection, Stream

log = logging.getLogger(__name__)

#: ``page_received(sender, tracks, accepted, skipped)``: a CatalogSync page was ingested.
PageHook = Callable[[str, int, int, int], None]


class CatalogSync:
    """The catalog side of federation: our pushes, their announcements."""

    def __init__(
        self,
        *,
        db: Database,
        own: OwnNode,
        policy: Policy,
        jobs: JobRunner,
        messenger: Messenger,
        blocklist: Blocklist,
        covers: BlobStore,
        unreachable: Callable[[str], Awaitable[None]],
        catalogue_changed: Callable[[], None],
        page_received: PageHook,
        last_play: LastSeen | None = None,
    ) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._jobs = jobs
        self._messenger = messenger
        self._blocklist = blocklist
        self._covers = covers
        self._unreachable = unreachable
        self._catalogue_changed = catalogue_changed
        self._page_received = page_received
        self._last_play = last_play or LastSeen()
        self._queue = PushQueue()
        self._pushes: dict[str, asyncio.Task[None]] = {}
        self._push_slots = asyncio.Semaphore(self._policy.limits.concurrent_pushes)
        self._cover_slots = asyncio.Semaphore(self._policy.limits.concurrent_cover_fetches)
        self._covers_in_flight: set[str] = set()
        self._catalog_requests = RateLimiter(1, self._policy.timings.catalog_request_interval, max_keys=10_000)
        #: Turns at ingesting each sender's messages (its quota is checked inside); a gate lives while in use.
        self._ingest_gates: weakref.WeakValueDictionary[str, catalog.IngestGate] = weakref.WeakValueDictionary()
        #: How many tracks recent senders offer, as of their last ingest (spares a count per catalog page).
        self._offered: OrderedDict[str, int] = OrderedDict()

    # --- pushing ours

    def cancel_push(self, node_id: str) -> None:
        """Stop a running push to a peer (it was blocked)."""
        self._queue.cancel(node_id)
        if (push := self._pushes.pop(node_id, None)) is not None:
            push.cancel()

    def push(self, node_id: str, *, full: bool = False, min_interval: float | None = None) -> None:
        """Push our catalog to a peer in the background, unless one ran recently (``min_interval`` seconds).

        A push requested while another runs to the same peer follows it (requests meanwhile are merged); only
        a rate-limited one (``min_interval`` > 0) is dropped.
        """
        if self._queue.request(node_id, full=full, forced=min_interval == 0) is not Request.START:
            return
        interval = self._policy.timings.push_min_interval if min_interval is None else min_interval
        task = self._jobs.spawn(self._push(node_id, full=full, min_interval=interval), f"catalog push {node_id[:16]}")
        self._pushes[node_id] = task
        task.add_done_callback(functools.partial(self._push_done, node_id))

    def push_to(self, node_ids: Sequence[str]) -> None:
        """Push our changes to each of these peers (unless a push to it ran recently)."""
        for node_id in node_ids:
            self.push(node_id)

    def _push_done(self, node_id: str, task: asyncio.Task[None]) -> None:
        if self._pushes.get(node_id) is not task:
            return  # cancelled for a block: no follow-up
        del self._pushes[node_id]
        full = self._queue.finished(node_id, cancelled=task.cancelled())
        if full is not None:
            self.push(node_id, full=full, min_interval=0)

    async def _push(self, node_id: str, *, full: bool, min_interval: float) -> None:
        async with self._push_slots:
            try:
                await self._push_pages(node_id, full=full, min_interval=min_interval)
            except* PeerUnavailable as failures:
                async with self._db.transaction() as session:
                    await repo.release_push(session, node_id)  # a failed push does not delay the next one
                await self._unreachable(node_id)
                raise failures.exceptions[0] from None

    async def _push_pages(self, node_id: str, *, full: bool, min_interval: float) -> None:
        async with self._db.transaction() as session:
            claimed = await repo.claim_push(session, node_id, min_interval)
        if claimed is None:
            return
        peer, started = claimed
        since = None if full else peer.sync_watermark
        sent = 0
        # Pages in flight to one peer of ours (it checks the next while one is written; measured 4 > 2 > 1);
        # SoundTime peers handle a connection's streams one at a time, so they get one page at a time. A peer whose
        # version we have not heard yet gets one page at a time until it says who it is: the first page is on its
        # way meanwhile (a new peer's catalogue starts to flow without waiting for that round trip).
        window = asyncio.Semaphore(1)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._widen_for_our_code(node_id, peer.version, window))
            async for page in catalog.catalog_pages(
                self._db, self._own.node_id, since, page_size=self._policy.limits.catalog_page_size
            ):
                message: wire.Message = (
                    wire.CatalogSync(tracks=page) if since is None else wire.CatalogDelta(since=since, tracks=page)
                )
                await window.acquire()
                group.create_task(self._messenger.send(node_id, message)).add_done_callback(lambda _: window.release())
                sent += len(page)
        margin = timedelta(seconds=self._policy.timings.watermark_margin)
        async with self._db.transaction() as session:
            await repo.mark_pushed(session, node_id, started - margin)
        if sent:
            log.info("pushed %d tracks to %s (%s)", sent, node_id[:16], "delta" if since else "full catalog")

    async def _widen_for_our_code(self, node_id: str, version: str | None, window: asyncio.Semaphore) -> None:
        """Let ``push_window`` pages be in flight at once to a peer that runs this implementation."""
        if await self._runs_our_code(node_id, version):
            for _ in range(self._policy.limits.push_window - 1):
                window.release()

    async def _runs_our_code(self, node_id: str, version: str | None) -> bool:
        """Whether a peer runs this implementation. A peer whose version we have not heard yet (it pinged us, and
        its Ping carries none) is asked with a Ping of ours, and its answer recorded (later pushes need no Ping);
        one that does not answer it well is treated as SoundTime (the push itself then finds out whether the peer
        can be reached)."""
        if version is None:
            try:
                pong = await self._messenger.request(node_id, wire.Ping())
            except PeerError as exc:
                log.info("peer %s did not answer our Ping: %s", node_id[:16], exc)
                return False
            if not isinstance(pong, wire.Pong) or pong.node_id != node_id:
                return False
            async with self._db.transaction() as session:
                await repo.record_pong(session, node_id, min(pong.track_count, MAX_TRACK_COUNT), pong.version)
            version = pong.version
        return (version or "").endswith(VERSION_SUFFIX)

    async def announce(self) -> None:
        """Our library gained tracks: push them to every online peer now (a delta since each one's watermark)."""
        self._catalogue_changed()
        async with self._db.transaction() as session:
            online = await repo.online_peer_ids(session)
            self._own.track_count = await repo.own_track_count(session)
        for node_id in online:
            self.push(node_id, min_interval=0)

    # --- requests peers send

    async def on_announce(self, conn: PeerConnection, _: Stream, message: wire.AnnounceTrack) -> None:
        """AnnounceTrack: one new track of the sender's."""
        await self.replicate(conn.node_id, [message.track])

    async def on_catalog(self, conn: PeerConnection, _: Stream, message: wire.CatalogSync) -> None:
        """CatalogSync: a page of the sender's whole catalog."""
        result = await self.replicate(conn.node_id, message.tracks)
        self._page_received(conn.node_id, len(message.tracks), result.accepted, result.skipped)

    async def on_delta(self, conn: PeerConnection, _: Stream, message: wire.CatalogDelta) -> None:
        """CatalogDelta: the sender's tracks changed since its last push."""
        await self.replicate(conn.node_id, message.tracks)

    async def on_request_catalog(self, conn: PeerConnection, _: Stream, __: wire.RequestCatalog) -> None:
        """RequestCatalog: a full push to the sender, at most once per ``catalog_request_interval``."""
        if self._catalog_requests.hit(conn.node_id) == 0:
            self.push(conn.node_id, full=True, min_interval=0)

    # --- replicating theirs

    async def replicate(self, sender: str, tracks: Sequence[wire.TrackAnnouncement]) -> catalog.Replicated:
        """Ingest announcements from ``sender`` (a transaction per message, see :class:`catalog.IngestGate`), then
        fetch missing covers."""
        limits = self._policy.limits
        # Checked before the turn: a message waiting for it is ready while the one before is being written.
        prepared = await catalog.prepare(sender, tracks, limits.max_tracks_per_message)
        gate = self._ingest_gates.get(sender)
        if gate is None:
            gate = catalog.IngestGate(self._ingest_concurrency, self._offered.get(sender))
            self._ingest_gates[sender] = gate
        async with gate.turn(len(prepared.tracks), limits.max_tracks_per_peer) as turn:
            if self._blocklist.is_blocked(sender):  # blocked while this page waited for its turn
                return catalog.Replicated(skipped=len(tracks))
            async with self._db.transaction() as session:
                result = await catalog.write(
                    session, sender, prepared, quota=limits.max_tracks_per_peer, offered=turn.offered
                )
            turn.done(result)
        self._remember_offered(sender, gate.offered)
        metrics.catalog_ingested(result.accepted, result.skipped)
        if result.accepted:
            self._catalogue_changed()
        room = self._policy.limits.max_pending_covers - len(self._covers_in_flight)
        wanted = [h for h in result.missing_covers if h not in self._covers_in_flight][: max(room, 0)]
        for digest in wanted:
            self._covers_in_flight.add(digest)
            self._jobs.spawn(self._fetch_cover(sender, digest, result.missing_covers[digest]), f"cover {digest[:16]}")
        return result

    def _ingest_concurrency(self) -> int:
        """Messages of one sender ingested at once: one while people are listening (their streams start sooner)."""
        if self._last_play.within(self._policy.timings.ingest_yields_to_plays):
            return 1
        return self._policy.limits.concurrent_ingests

    def _remember_offered(self, sender: str, offered: int | None) -> None:
        """Keep a sender's committed track count for its next message (a bounded number of senders)."""
        if offered is None:
            return
        self._offered[sender] = offered
        self._offered.move_to_end(sender)
        if len(self._offered) > self._policy.limits.max_remembered_senders:
            self._offered.popitem(last=False)

    async def _fetch_cover(self, sender: str, digest: str, album_ids: list[Any]) -> None:
        """Fetch one cover from ``sender`` (verified, bounded in time), then show it on the albums that want it."""
        try:
            async with self._cover_slots:
                try:
                    async with asyncio.timeout(self._policy.timings.cover_fetch_deadline):
                        ref = await self._messenger.fetch_blob(sender, digest, self._covers, max_size=MAX_COVER_BYTES)
                except (PeerError, TimeoutError) as exc:
                    metrics.blob_fetched("cover", ok=False)
                    log.info("cover %s from %s: %s", digest[:16], sender[:16], exc or "took too long")
                    return
            mime = image_mime(await asyncio.to_thread(self._covers.read_bytes, digest, max_size=ref.size))
            if mime is None:
                log.info("cover %s from %s is not an image; ignored", digest[:16], sender[:16])
                return
            async with self._db.transaction() as session:
                await repo.add_cover(session, digest, mime, ref.size, album_ids)
            metrics.blob_fetched("cover", ok=True)
        finally:
            self._covers_in_flight.discard(digest)
