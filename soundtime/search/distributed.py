"""Distributed search: ask the peers whose filters match (SearchQuery, spec §3-§5), keep only valid answers,
and remember what was found for a while so that a result can be imported and played."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from soundtime.kit.db import Database
from soundtime.kit.errors import TooManyRequests
from soundtime.kit.ratelimit import RateLimiter
from soundtime.p2p import repository as p2p_repo
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerError
from soundtime.p2p.policy import Limits, Policy, Timings
from soundtime.p2p.ports import Blocklist, OwnNode, Requests
from soundtime.p2p.tracks import announcement, facts_of_item
from soundtime.p2p.transport import is_node_id
from soundtime.p2p.validation import FixLog, announcement_problem, tidy
from soundtime.search.routing import SearchFilters

log = logging.getLogger(__name__)

_repairs = FixLog()


def as_announcement(item: wire.SearchResultItem, origin: str, file_size: int) -> wire.TrackAnnouncement:
    """A search hit as the announcement its source would have sent (what replication validates and stores)."""
    return announcement(facts_of_item(item, file_size=file_size), origin)


def item_problem(item: wire.SearchResultItem, answering: str, known: set[str], own_id: str) -> str | None:
    """Why a hit from ``answering`` is dropped, or None. ``known``: registered, unblocked peers."""
    source = item.source_node
    if not is_node_id(source):
        return "source_node is not a node id"
    if source == own_id:
        return "source_node is this node"  # what we hold shows from our own library
    if source != answering and source not in known:
        return "source_node is neither the answering peer nor a known peer"
    return announcement_problem(as_announcement(item, source, 0), source)


@dataclass(frozen=True, slots=True)
class RemoteHit:
    """A validated remote result and the peers offering its bytes."""

    item: wire.SearchResultItem
    sources: tuple[str, ...]


@dataclass
class FanOut:
    """What the peers answered: valid hits by hash (every variant of its metadata) and the sources of each hash."""

    variants: dict[str, list[wire.SearchResultItem]] = field(default_factory=dict)
    sources: dict[str, set[str]] = field(default_factory=dict)
    asked: int = 0
    answered: int = 0
    failed: int = 0
    dropped: int = 0


class RecentResults:
    """Recently found remote hits by hash: bounded, expiring, sources merged across searches."""

    def __init__(
        self,
        *,
        ttl: float = Timings.recent_hits_ttl,
        max_entries: int = Limits.max_recent_hits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._hits: OrderedDict[str, tuple[RemoteHit, float]] = OrderedDict()

    def remember(self, hits: Iterable[RemoteHit]) -> None:
        """Keep hits (a hash found again keeps its earlier sources too)."""
        now = self._clock()
        for found in hits:
            earlier = self.get(found.item.hash)
            kept = found if earlier is None else RemoteHit(found.item, (*found.sources, *earlier.sources))
            kept = RemoteHit(kept.item, tuple(dict.fromkeys(kept.sources)))
            self._hits[found.item.hash] = (kept, now)
            self._hits.move_to_end(found.item.hash)
            if len(self._hits) > self.max_entries:
                self._hits.popitem(last=False)

    def get(self, digest: str) -> RemoteHit | None:
        """A hit found less than the TTL ago."""
        found = self._hits.get(digest)
        if found is None:
            return None
        if self._clock() - found[1] > self.ttl:
            del self._hits[digest]
            return None
        return found[0]


class DistributedSearch:
    """Fan-out of searches to peers, per-user limits and recent results."""

    def __init__(
        self,
        *,
        db: Database,
        own: OwnNode,
        policy: Policy,
        messenger: Requests,
        blocklist: Blocklist,
        filters: SearchFilters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._messenger = messenger
        self._blocklist = blocklist
        self._filters = filters
        timings, limits = self._policy.timings, self._policy.limits
        self.recent = RecentResults(ttl=timings.recent_hits_ttl, max_entries=limits.max_recent_hits, clock=clock)
        self.limiter = RateLimiter(limits.searches_per_minute, 60.0, max_keys=10_000, clock=clock)

    def admit(self, user_key: str) -> None:
        """Count one fan-out for a user; TooManyRequests (429, Retry-After) beyond the limit."""
        retry_after = self.limiter.hit(user_key)
        if retry_after > 0:
            raise TooManyRequests(retry_after, "too many searches across peers, try again later")

    async def ask_peers(self, query: str, limit: int) -> FanOut:
        """Send the query to the candidate peers at once (each ≤ 10 s) and keep the valid hits."""
        outcome = FanOut()
        peers = await self._filters.candidates(query)
        outcome.asked = len(peers)
        if not peers:
            return outcome
        request = wire.SearchQuery(request_id=str(uuid.uuid4()), query=query, limit=limit)
        replies = await asyncio.gather(*(self._ask(peer, request) for peer in peers))
        answers = [(peer, items) for peer, items in zip(peers, replies, strict=True) if items is not None]
        outcome.answered = len(answers)
        outcome.failed = outcome.asked - outcome.answered
        is_blocked = self._blocklist.is_blocked
        answers = [(peer, items) for peer, items in answers if not is_blocked(peer)]  # blocked meanwhile
        claimed = {item.source_node for peer, items in answers for item in items if item.source_node != peer}
        claimed = {c for c in claimed if is_node_id(c) and c != self._own.node_id and not is_blocked(c)}
        known: set[str] = set()
        if claimed:
            async with self._db.transaction() as session:
                known = await p2p_repo.existing_peer_ids(session, sorted(claimed))
        for peer, items in answers:
            repaired: set[str] = set()
            for hit in items:
                problem = item_problem(hit, peer, known, self._own.node_id)
                if problem is not None:
                    outcome.dropped += 1
                    log.info("peer %s: dropped a search result: %s", peer[:16], problem)
                    continue
                item, fixed = tidy(hit)
                repaired.update(fixed)
                outcome.variants.setdefault(item.hash, []).append(item)
                outcome.sources.setdefault(item.hash, set()).add(item.source_node)
            _repairs.note(peer, sorted(repaired), "search results")
        return outcome

    async def _ask(self, peer: str, request: wire.SearchQuery) -> list[wire.SearchResultItem] | None:
        """A peer's hits (at most ``limit``), None when it failed or answered something else."""
        try:
            within = self._policy.timings.search_reply_timeout
            async with asyncio.timeout(within):
                reply = await self._messenger.request(peer, request, within=within)
        except (PeerError, TimeoutError) as exc:
            log.info("search on peer %s failed: %s", peer[:16], exc or "no answer in time")
            return None
        if not isinstance(reply, wire.SearchResults) or reply.request_id != request.request_id:
            log.info("peer %s answered a search with something else; ignored", peer[:16])
            return None
        return reply.results[: request.limit]
