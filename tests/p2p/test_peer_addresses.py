"""Where a peer we were told about is dialled: what we were told, and what it was seen on since (real PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from soundtime.kit.db import Database
from soundtime.models import Peer
from soundtime.p2p.peers.registry import PeerRegistry
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import OwnNode, Signal
from soundtime.p2p.transport import PeerAddress

PEER = "b" * 64
SEED = PeerAddress(PEER, ("127.0.0.1:4000",))


def _registry(db: Database, policy: Policy | None = None) -> PeerRegistry:
    """A registry as a freshly started node has it: nothing in memory, everything from the database."""

    async def close_peer(node_id: str) -> None:
        return None

    return PeerRegistry(
        db,
        OwnNode(node_id="a" * 64),
        policy or Policy(),
        relay=False,
        peer_blocked=Signal("peer blocked"),
        peer_forgotten=Signal("peer forgotten"),
        pinged=Signal("pinged"),
        close_peer=close_peer,
    )


async def _stored(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list(await session.scalar(select(Peer.addresses).where(Peer.node_id == PEER)) or [])


async def test_a_seed_read_at_start_keeps_the_address_the_peer_was_seen_on_since(db: Database) -> None:
    first = _registry(db)
    assert await first.add(SEED, source="seed")
    await first.seen_on(PEER, ["127.0.0.1:5000"])  # the peer restarted on another port and reached us

    restarted = _registry(db)
    assert await restarted.add(SEED, source="seed")

    address = await restarted.address_of(PEER)
    assert address is not None
    assert address.direct_addresses == ("127.0.0.1:4000", "127.0.0.1:5000")
    assert await _stored(db) == ["127.0.0.1:4000", "127.0.0.1:5000"]


async def test_addresses_we_are_told_come_first_each_once_and_are_bounded(db: Database) -> None:
    policy = replace(Policy(), limits=replace(Policy().limits, max_addresses_per_peer=3))
    registry = _registry(db, policy)
    await registry.seen_on(PEER, ["127.0.0.1:5000", "127.0.0.1:5001"])
    await registry.add(PeerAddress(PEER, ("127.0.0.1:6000", "127.0.0.1:5001")), source="manual")

    assert await _stored(db) == ["127.0.0.1:6000", "127.0.0.1:5001", "127.0.0.1:5000"]
    await registry.add(PeerAddress(PEER, ("127.0.0.1:7000",)), source="local")
    assert await _stored(db) == ["127.0.0.1:7000", "127.0.0.1:6000", "127.0.0.1:5001"]
    address = await registry.address_of(PEER)
    assert address is not None
    assert address.direct_addresses == ("127.0.0.1:7000", "127.0.0.1:6000", "127.0.0.1:5001")


async def test_an_entry_without_addresses_leaves_the_known_ones(db: Database) -> None:
    registry = _registry(db)
    await registry.seen_on(PEER, ["127.0.0.1:5000"])
    await registry.add(PeerAddress(PEER, ()), source="seed")
    assert await _stored(db) == ["127.0.0.1:5000"]
