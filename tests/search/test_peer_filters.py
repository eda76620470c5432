"""Filters received from peers: validation, expiry, bounds, routing by terms (clock injected)."""

from __future__ import annotations

import pytest

from soundtime.p2p import wire
from soundtime.search.bloom import BloomFilter, InvalidFilter
from soundtime.search.peer_filters import PeerFilters

PEERS = [f"{i:064x}" for i in range(1, 6)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _filter(*terms: str, size: int = 64) -> wire.BloomFilterData:
    bloom = BloomFilter(bytearray(size), 5, size * 8, ((1, 2), (3, 4)))
    bloom.add_all(terms)
    return bloom.to_wire()


def test_routing_needs_every_term() -> None:
    filters = PeerFilters()
    filters.put(PEERS[0], _filter("queen", "rock"))
    filters.put(PEERS[1], _filter("queen", "jazz"))
    filters.put(PEERS[2], _filter("opera"))
    assert filters.matching(["queen"]) == [PEERS[0], PEERS[1]]
    assert filters.matching(["queen", "rock"]) == [PEERS[0]]
    assert filters.matching(["queen", "opera"]) == []
    assert filters.matching([]) == PEERS[:3]  # no terms: every peer with a filter


def test_filters_expire_unless_refreshed() -> None:
    clock = Clock()
    filters = PeerFilters(ttl=900, clock=clock)
    filters.put(PEERS[0], _filter("queen"))
    filters.put(PEERS[1], _filter("queen"))
    clock.now += 600
    filters.put(PEERS[1], _filter("queen"))  # refreshed
    clock.now += 301
    assert filters.matching(["queen"]) == [PEERS[1]]
    assert PEERS[0] not in filters
    assert filters.get(PEERS[1]) is not None
    clock.now += 600
    assert filters.matching(["queen"]) == []
    assert len(filters) == 0
    assert filters.total_bytes == 0


def test_a_rejected_filter_changes_nothing() -> None:
    filters = PeerFilters()
    filters.put(PEERS[0], _filter("queen"))
    bad = wire.BloomFilterData(bytes(16), 0, 128, ((1, 2), (3, 4)), 0)
    with pytest.raises(InvalidFilter):
        filters.put(PEERS[0], bad)
    with pytest.raises(InvalidFilter):
        filters.put(PEERS[1], bad)
    assert filters.matching(["queen"]) == [PEERS[0]]
    assert PEERS[1] not in filters


def test_bounded_in_count_and_bytes_oldest_first() -> None:
    clock = Clock()
    filters = PeerFilters(max_filters=3, max_bytes=1000, clock=clock)
    for peer in PEERS[:4]:
        clock.now += 1
        filters.put(peer, _filter("queen", size=100))
    assert filters.matching(["queen"]) == PEERS[1:4]
    clock.now += 1
    filters.put(PEERS[4], _filter("queen", size=850))  # the bytes bound: the two oldest go
    assert filters.matching(["queen"]) == [PEERS[3], PEERS[4]]
    assert filters.total_bytes == 950


def test_drop() -> None:
    filters = PeerFilters()
    filters.put(PEERS[0], _filter("queen"))
    filters.drop(PEERS[0])
    filters.drop(PEERS[1])
    assert filters.matching([]) == []
    assert filters.total_bytes == 0
