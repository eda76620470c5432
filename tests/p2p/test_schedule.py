"""The node's schedule: offline peers are re-contacted with growing back-off; exchange is bounded."""

from __future__ import annotations

import asyncio
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


#: Which of the numbers 1, 2, … 2,006, written as 64 hexadecimal digits, are valid Ed25519 public keys (bit k, most
#: significant first, for k + 1): the first 1,010 valid ones, found once with :func:`_is_key` (a key check through
#: iroh costs ~0.07 ms; the scenario checks that the node accepts every one of them).
_VALID_KEY_BITS = bytes.fromhex(
    "4bc7a239e12e261e0e09ae7c49775b2d4bc7a239e12e261e0e09ae7c49775b2cbca80b9c6b4e8f3cc7e92420e1250f9c"
    "bca80b9c6b4e8f3cc7e92420e1250f9c7c0bccd53bab217ac1b601771095ddf87c0bccd53bab217ac1b601771095ddf8"
    "3822e06c29be96fee7dcf5a6b5419b663822e06c29be96fee7dcf5a6b5419b67bed2b75c8550cc4f72edcef48a5128c7"
    "bed2b75c8550cc4f72edcef48a5128c7b711d3d6c3f8c59816d485fe4ba7f1d1b711d3d6c3f8c59816d485fe4ba7f1d1"
    "bba220c39c88b1245621c7a751eae815bba220c39c88b1245621c7a751eae8157327a83cf759019d803d476f0af6498f"
    "7327a83cf759019d803d44"
)


def _valid_keys(count: int) -> list[str]:
    numbers = (k + 1 for k in range(len(_VALID_KEY_BITS) * 8) if _VALID_KEY_BITS[k // 8] & (0x80 >> k % 8))
    keys = [f"{n:064x}" for n in itertools.islice(numbers, count)]
    assert len(keys) == count
    return keys


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
    first_round = asyncio.Event()
    b.node.signals.round_done.connect(lambda _: first_round.set())
    await asyncio.wait_for(first_round.wait(), 20)  # the node's own round at start-up is over: none races ours
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
    # valid keys beyond the 1,000 ids read (each costs the node a key check: 10 more show the bound as well as 500)
    listed = _valid_keys(b.node.policy.limits.max_exchange_ids + 10)
    assert _is_key(listed[0])
    assert _is_key(listed[-1])
    invalid_key = f"{1:064x}"
    assert not _is_key(invalid_key)
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
