"""Search routing filters (spec §5): ours, rebuilt when the library changes and sent to peers, and theirs,
validated and kept while fresh, to choose which peers a search asks."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

from soundtime.kit.db import Database
from soundtime.kit.jobs import JobRunner
from soundtime.p2p import repository as p2p_repo
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerError
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import OwnNode, Requests
from soundtime.p2p.transport import PeerConnection, Stream
from soundtime.search import repository as search_repo
from soundtime.search.bloom import BloomFilter, InvalidFilter, add_terms, words
from soundtime.search.peer_filters import PeerFilters

log = logging.getLogger(__name__)

#: Distinct words read per batch while collecting our terms.
BATCH = 5000


class SearchFilters:
    """Our filter and the peers' filters."""

    def __init__(
        self,
        *,
        db: Database,
        own: OwnNode,
        policy: Policy,
        jobs: JobRunner,
        messenger: Requests,
        clock: Callable[[], float] = time.monotonic,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._jobs = jobs
        self._messenger = messenger
        limits = self._policy.limits
        self.received = PeerFilters(
            ttl=self._policy.timings.peer_filter_ttl,
            max_filters=limits.max_peer_filters,
            max_bytes=limits.max_peer_filter_bytes,
            clock=clock,
        )
        self.own: BloomFilter | None = None
        #: Counters: builds of our filter, and unusable filters received.
        self.rebuilds = 0
        self.rejected = 0
        self._clock = clock
        self._random_bytes = random_bytes
        #: Ours, as built; encoded at its first send, then sent as it is to every peer until the next build.
        self._message: wire.BloomExchange | wire.Encoded | None = None
        self._fingerprint: tuple[int, datetime | None] | None = None
        self._dirty = asyncio.Event()
        self._built = asyncio.Event()
        self._last_broadcast = -float("inf")
        #: Which build of ours last went to a peer, and when (bounded).
        self._sent: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._send_slots = asyncio.Semaphore(limits.filter_send_concurrency)

    # --- our filter ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Build our filter now, then keep it up to date (a node job)."""
        self._jobs.spawn(self._run(), "search filter")

    def mark_dirty(self) -> None:
        """The library changed: rebuild soon (changes arriving meanwhile share the rebuild)."""
        self._dirty.set()

    async def _run(self) -> None:
        self._dirty.set()  # the first build: nothing is sent before our first filter exists
        while True:
            await self._dirty.wait()
            if self.own is not None:
                await asyncio.sleep(self._policy.timings.filter_rebuild_delay)
            self._dirty.clear()
            built = await self._rebuild_logged()
            if built is None:
                await asyncio.sleep(self._policy.timings.filter_retry_delay)
                self._dirty.set()
                continue
            if not built:
                continue
            wait = self._last_broadcast + self._policy.timings.filter_broadcast_interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
                if self._dirty.is_set():  # changed again meanwhile: peers get the newest
                    self._dirty.clear()
                    await self._rebuild_logged()
            await self.broadcast()

    async def _rebuild_logged(self) -> bool | None:
        """:meth:`rebuild`, None when it failed (logged; the previous filter stays in use)."""
        try:
            return await self.rebuild()
        except Exception:
            log.exception("rebuilding the search filter failed; the previous one stays")
            return None

    async def rebuild(self, *, force: bool = False) -> bool:
        """Build our filter from the library with fresh keys; False when nothing changed since the last build."""
        started = time.perf_counter()
        terms: set[str] = set()
        async with self._db.transaction() as session:
            fingerprint = await search_repo.library_fingerprint(session)
            if not force and fingerprint == self._fingerprint and self.own is not None:
                return False
            async for pieces in search_repo.stream_library_pieces(session, BATCH):
                await asyncio.to_thread(add_terms, terms, pieces)
        bloom = await asyncio.to_thread(BloomFilter.of_terms, terms, random_bytes=self._random_bytes)
        self.own, self._fingerprint = bloom, fingerprint
        self._message = wire.BloomExchange(bloom=bloom.to_wire())
        self.rebuilds += 1
        self._built.set()
        log.info(
            "search filter: %d terms of %d tracks, %d bytes, built in %.0f ms",
            len(terms),
            fingerprint[0],
            bloom.size,
            (time.perf_counter() - started) * 1000,
        )
        return True

    async def refresh_if_changed(self) -> None:
        """Mark the filter dirty when the library changed behind our back (another process, maintenance)."""
        async with self._db.transaction() as session:
            fingerprint = await search_repo.library_fingerprint(session)
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            self.mark_dirty()

    # --- sending ours ----------------------------------------------------------------------------------------

    def send_to(self, node_id: str) -> None:
        """Send our filter to a peer in the background (once the first build is done)."""
        self._jobs.spawn(self._send(node_id), f"search filter to {node_id[:16]}")

    def send_round(self, node_ids: Sequence[str]) -> None:
        """The periodic refresh: notice outside changes, then send our filter to these (online) peers."""
        self._jobs.spawn(self._round(list(node_ids)), "search filter round")

    async def _round(self, node_ids: list[str]) -> None:
        self.received.expire()
        await self.refresh_if_changed()
        await asyncio.gather(*(self._send(node_id) for node_id in node_ids))

    async def broadcast(self) -> None:
        """Send our filter to every online, unblocked peer."""
        self._last_broadcast = self._clock()
        async with self._db.transaction() as session:
            online = await p2p_repo.online_peer_ids(session)
        await asyncio.gather(*(self._send(node_id) for node_id in online))

    async def _send(self, node_id: str) -> None:
        await self._built.wait()
        message = self._encoded()
        if message is None:
            return
        now, last = self._clock(), self._sent.get(node_id)
        resend_after = self._policy.timings.filter_resend_interval
        if last is not None and last[0] == self.rebuilds and now - last[1] < resend_after:
            return  # this very filter went (or is going) to the peer a moment ago
        self._sent[node_id] = (self.rebuilds, now)
        self._sent.move_to_end(node_id)
        if len(self._sent) > self._policy.limits.max_remembered_filter_sends:
            self._sent.popitem(last=False)
        try:
            async with self._send_slots:
                await self._messenger.send(node_id, message)  # refuses blocked peers, before and after dialling
        except PeerError as exc:
            self._sent.pop(node_id, None)
            log.debug("search filter to %s not delivered: %s", node_id[:16], exc)

    def _encoded(self) -> wire.Encoded | None:
        """Our filter's message, encoded once per build (~240 KB of JSON, over a millisecond each time); None when
        there is none to send, or it exceeds a frame (reported once)."""
        if isinstance(self._message, wire.BloomExchange):
            try:
                self._message = wire.Encoded.of(self._message)
            except ValueError as exc:
                log.warning("our search filter cannot be sent (%s): peers will not route searches to us", exc)
                self._message = None
        return self._message

    # --- theirs ----------------------------------------------------------------------------------------------

    async def on_bloom(self, conn: PeerConnection, _: Stream, message: wire.BloomExchange) -> None:
        """BloomExchange from a peer (an unusable filter is logged and ignored)."""
        self.receive(conn.node_id, message.bloom)

    def receive(self, sender: str, data: wire.BloomFilterData) -> bool:
        """Keep a peer's filter if it is valid (a bad one is logged and ignored); answer with ours if it is due."""
        try:
            self.received.put(sender, data)
        except InvalidFilter as exc:
            self.rejected += 1
            log.warning("peer %s sent an unusable search filter (ignored): %s", sender[:16], exc)
            return False
        last = self._sent.get(sender)
        if last is None or self._clock() - last[1] >= self._policy.timings.filter_reply_interval:
            self.send_to(sender)  # it contacted us: without ours it could not route searches to us
        return True

    def drop(self, node_id: str) -> None:
        """Forget a peer's filter (blocked or deleted)."""
        self.received.drop(node_id)
        self._sent.pop(node_id, None)

    async def candidates(self, query: str) -> list[str]:
        """Online, unblocked peers whose live filter contains every term of ``query`` (any filter when it has no
        terms), most tracks first, then by node id; at most ``Limits.search_fanout``."""
        matching = [node_id for node_id in self.received.matching(words(query)) if node_id != self._own.node_id]
        if not matching:
            return []
        async with self._db.transaction() as session:
            online = await search_repo.online_peers(session, matching)
        online.sort(key=lambda peer: (-peer[1], peer[0]))
        return [node_id for node_id, _ in online[: self._policy.limits.search_fanout]]
