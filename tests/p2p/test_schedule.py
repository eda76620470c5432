"""The node's schedule: offline peers are re-contacted with growing back-off; exchange is bounded."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from soundtime.models import Peer, PeerLink
from soundtime.p2p import wire
from soundtime.p2p.transport import MemoryNetwork, PeerAddress, node_id_of_secret, normalize_node_id
from tests.p2p.conftest import Node, StartNode


def _is_key(text: str) -> bool:
    try:
        normalize_node_id(text)
    except ValueError:
        return False
    return True


# A valid Ed25519 public key that nobody runs (and that has no known address).
NOBODY = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"


async def _peer(instance: Node, node_id: str) -> Peer:
    async with instance.context.db.transaction() as session:
        peer = await session.get(Peer, node_id)
        assert peer is not None
        return peer


async def test_unreachable_peers_are_retried_with_growing_back_off(
    start_node: StartNode, network: MemoryNetwork
) -> None:
    b = await start_node("b", network=network)
    await b.node.peers.add(PeerAddress(NOBODY), source="manual")

    await b.node.contacts.run_round()
    first = await _peer(b, NOBODY)
    assert (first.failure_count, first.is_online) == (1, False)
    assert first.next_attempt_at is not None
    delay = (first.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert 30 * 0.75 - 2 <= delay <= 30 * 1.25

    await b.node.contacts.run_round()  # not due yet: no new attempt
    assert (await _peer(b, NOBODY)).failure_count == 1

    async with b.context.db.transaction() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(Peer).where(Peer.node_id == NOBODY).values(next_attempt_at=past))
    await b.node.contacts.run_round()
    second = await _peer(b, NOBODY)
    assert second.failure_count == 2
    assert second.next_attempt_at is not None
    assert (second.next_attempt_at - datetime.now(UTC)).total_seconds() >= 60 * 0.75 - 2


async def test_a_peer_list_is_bounded_and_filtered(start_node: StartNode, network: MemoryNetwork) -> None:
    b = await start_node("b", network=network)
    sender = node_id_of_secret(os.urandom(32))  # a peer B has met
    await b.node.peers.seen_on(sender, [])
    # valid keys beyond the 1,000 ids read (each costs a key check: 10 more show the bound as well as 500)
    valid_keys = filter(_is_key, (f"{i:064x}" for i in itertools.count(1)))
    listed = list(itertools.islice(valid_keys, b.node.policy.limits.max_exchange_ids + 10))
    invalid_key = next(f"{i:064x}" for i in itertools.count(1) if not _is_key(f"{i:064x}"))
    message = wire.PeerExchange(
        peers=[b.node_id, sender, "not-an-id", invalid_key, NOBODY.upper(), *listed],
        addresses={NOBODY.upper(): ["10.0.0.1:1", "bogus", "[::1]:2", "1.2.3.4:0", "224.0.0.1:5", "5.6.7.8:9"]},
    )
    await b.node.exchange.learn(sender, message)
    async with b.context.db.transaction() as session:
        learned = (await session.execute(select(func.count()).select_from(Peer))).scalar_one()
        links = (await session.execute(select(func.count()).select_from(PeerLink))).scalar_one()
        nobody = await session.get(Peer, NOBODY)
    # ourselves, the sender, garbage and invalid keys are dropped; at most 1,000 ids of one list are read,
    # and at most 100 new peers are registered from it
    assert links == 1000 - 4
    assert learned == b.node.policy.limits.new_ids_per_list + 1  # plus the sender
    assert nobody is not None
    assert nobody.source == "exchange"
    assert nobody.addresses == ["10.0.0.1:1", "[::1]:2"]  # at most 4 read, invalid ones dropped
