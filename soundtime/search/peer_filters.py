"""The Bloom filters peers sent us: validated, in memory, expiring, bounded in count and bytes (clock injected)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from soundtime.p2p.policy import Limits, Timings
from soundtime.p2p.wire import BloomFilterData
from soundtime.search.bloom import BloomFilter


@dataclass(frozen=True, slots=True)
class HeldFilter:
    """A peer's filter and when (clock seconds) we received it."""

    bloom: BloomFilter
    received_at: float


class PeerFilters:
    """Filters by node id, least recently refreshed first."""

    def __init__(
        self,
        *,
        ttl: float = Timings.peer_filter_ttl,
        max_filters: int = Limits.max_peer_filters,
        max_bytes: int = Limits.max_peer_filter_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_filters = max_filters
        self.max_bytes = max_bytes
        self._clock = clock
        self._held: OrderedDict[str, HeldFilter] = OrderedDict()
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, str) and self.get(node_id) is not None

    def put(self, node_id: str, data: BloomFilterData) -> BloomFilter:
        """Keep a peer's new filter (replacing its previous one); InvalidFilter when it is unusable.

        A rejected filter changes nothing: the peer's previous filter, if any, stays until it expires.
        """
        bloom = BloomFilter.from_wire(data)
        self.drop(node_id)
        self._held[node_id] = HeldFilter(bloom, self._clock())
        self.total_bytes += bloom.size
        while len(self._held) > self.max_filters or self.total_bytes > self.max_bytes:
            oldest = next(iter(self._held))
            self.drop(oldest)
        return bloom

    def drop(self, node_id: str) -> None:
        """Forget a peer's filter (blocked, deleted, expired)."""
        held = self._held.pop(node_id, None)
        if held is not None:
            self.total_bytes -= held.bloom.size

    def expire(self) -> None:
        """Drop every filter older than the TTL."""
        horizon = self._clock() - self.ttl
        while self._held:
            node_id, held = next(iter(self._held.items()))
            if held.received_at > horizon:
                return
            self.drop(node_id)

    def get(self, node_id: str) -> HeldFilter | None:
        """A peer's live filter."""
        self.expire()
        return self._held.get(node_id)

    def matching(self, terms: Sequence[str]) -> list[str]:
        """Peers whose live filter contains every term (every peer with a filter when there are no terms)."""
        self.expire()
        return [node_id for node_id, held in self._held.items() if held.bloom.contains_all(terms)]
