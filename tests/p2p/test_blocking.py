"""Blocking, checked once per path: outgoing calls at the messenger (through the registry's ``address_of``),
incoming connections and streams at admission and dispatch, sources in the planners (``tests/p2p/test_plans.py``).

The first tests need no database and no iroh: the registry, the messenger and inbound dispatch on the in-memory
network. The last one runs nodes on it (instances without the web application) and shows that no part of a node
reaches a blocked peer although the parts themselves no longer check (push, round, search fan-out, import).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.kit.errors import ServiceUnavailable
from soundtime.library.facts import TrackFacts
from soundtime.p2p import service as p2p_service
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerUnavailable
from soundtime.p2p.inbound import Inbound
from soundtime.p2p.messenger import PeerMessenger
from soundtime.p2p.peers.registry import PeerRegistry
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import OwnNode, Signal
from soundtime.p2p.schemas import BlockExport
from soundtime.p2p.tracks import search_item
from soundtime.p2p.transport import (
    Callbacks,
    CloseCode,
    ConnectionClosed,
    MemoryNetwork,
    MemoryTransport,
    PeerAddress,
    PeerConnection,
    Stream,
    StreamError,
)
from soundtime.search import service as search_service
from soundtime.search.distributed import RemoteHit
from tests.p2p.conftest import StartNode, eventually
from tests.p2p.test_scenarios import _add_own_tracks, _online


class NoDatabase:
    """A database that must not be used: the block check comes before any query."""

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        raise AssertionError("the database was used")


@dataclass
class Peer:
    """A peer on the memory network that answers Pings and counts what reaches it."""

    transport: MemoryTransport | None = None
    admitted: list[str] = field(default_factory=list)
    served: list[str] = field(default_factory=list)
    #: Called when a connection arrives (before it is admitted).
    on_arrival: Callable[[], None] = lambda: None

    async def admit(self, node_id: str) -> bool:
        self.on_arrival()
        self.admitted.append(node_id)
        return True

    async def serve(self, conn: PeerConnection, stream: Stream) -> None:
        self.served.append(conn.node_id)
        wire.decode(await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=5))
        await stream.write(wire.encode_frame(wire.Pong(node_id="", track_count=0, version="x")), timeout=5)

    @property
    def node_id(self) -> str:
        assert self.transport is not None
        return self.transport.node_id


@dataclass
class Us:
    """Our side: a registry on no database, the messenger dialling through it, and the signals it raises."""

    registry: PeerRegistry
    messenger: PeerMessenger
    transport: MemoryTransport
    blocked: list[str]


async def _us(network: MemoryNetwork, on_stream: Any = None) -> Us:
    policy = Policy()
    own = OwnNode()
    blocked: list[str] = []
    peer_blocked: Signal[[str]] = Signal("peer blocked")
    peer_blocked.connect(blocked.append)

    async def address_of(node_id: str) -> PeerAddress | None:
        return await registry.address_of(node_id)

    messenger = PeerMessenger(address_of, policy)
    registry = PeerRegistry(
        cast(Database, NoDatabase()),
        own,
        policy,
        relay=False,
        peer_blocked=peer_blocked,
        peer_forgotten=Signal("peer forgotten"),
        pinged=Signal("pinged"),
        close_peer=messenger.close_peer,
    )
    transport = await network.start(os.urandom(32), Callbacks(on_stream=on_stream or _refuse, admit=registry.admit))
    own.node_id = transport.node_id
    messenger.attach(transport)
    return Us(registry, messenger, transport, blocked)


async def _refuse(conn: PeerConnection, _: Stream) -> None:
    raise AssertionError(f"nobody should open a stream to us (did {conn.node_id[:16]})")


async def _peer(network: MemoryNetwork) -> Peer:
    peer = Peer()
    peer.transport = await network.start(os.urandom(32), Callbacks(on_stream=peer.serve, admit=peer.admit))
    return peer


# --- outgoing: the messenger ------------------------------------------------------------------------------------


async def test_every_call_to_a_blocked_peer_is_refused_before_it_is_dialled(tmp_path: Any) -> None:
    network = MemoryNetwork()
    us, peer = await _us(network), await _peer(network)
    us.registry.hinted({peer.node_id: list(peer.transport.address().direct_addresses)})  # type: ignore[union-attr]
    assert isinstance(await us.messenger.request(peer.node_id, wire.Ping()), wire.Pong)
    assert (peer.admitted, peer.served) == ([us.transport.node_id], [us.transport.node_id])

    us.registry.blocked([peer.node_id])
    assert us.blocked == [peer.node_id]
    assert not us.transport.connections(peer.node_id)  # the open connection is closed at once
    store = BlobStore(tmp_path / "blobs")
    digest = "ab" * 32
    calls = [
        us.messenger.request(peer.node_id, wire.Ping()),
        us.messenger.send(peer.node_id, wire.RequestCatalog()),
        us.messenger.open_blob(peer.node_id, digest, max_size=1 << 20),
        us.messenger.probe_blob(peer.node_id, digest, max_size=1 << 20),
        us.messenger.fetch_blob(peer.node_id, digest, store, max_size=1 << 20),
    ]
    for call in calls:
        with pytest.raises(PeerUnavailable, match="blocked"):
            await call
    # Nothing reached the peer: no new connection, no stream.
    assert (peer.admitted, peer.served) == ([us.transport.node_id], [us.transport.node_id])
    assert not us.transport.connections(peer.node_id)

    us.registry.unblock(peer.node_id)
    us.registry.hinted({peer.node_id: list(peer.transport.address().direct_addresses)})  # type: ignore[union-attr]
    assert isinstance(await us.messenger.request(peer.node_id, wire.Ping()), wire.Pong)


async def test_a_peer_blocked_while_we_dial_it_gets_no_stream_and_no_connection() -> None:
    network = MemoryNetwork()
    us, peer = await _us(network), await _peer(network)
    us.registry.hinted({peer.node_id: list(peer.transport.address().direct_addresses)})  # type: ignore[union-attr]

    peer.on_arrival = lambda: us.registry.blocked([peer.node_id])  # the block commits while we dial
    with pytest.raises(PeerUnavailable, match="blocked"):
        await us.messenger.request(peer.node_id, wire.Ping())
    assert peer.served == []
    assert not us.transport.connections(peer.node_id)


# --- incoming: admission and dispatch -----------------------------------------------------------------------------


async def test_a_blocked_peer_is_refused_at_the_door_before_any_query() -> None:
    network = MemoryNetwork()
    us = await _us(network)
    blocked, other = os.urandom(32).hex(), os.urandom(32).hex()
    us.registry.blocked([blocked])

    assert await us.registry.admit(blocked) is False
    assert await us.registry.add(PeerAddress(blocked, ("10.0.0.1:1",)), source="manual") is False
    assert await us.registry.address_of(blocked) is None
    with pytest.raises(AssertionError, match="database was used"):  # an unblocked one goes on to the database
        await us.registry.admit(other)


async def test_a_blocked_peer_s_streams_are_never_served_even_on_an_open_connection() -> None:
    network = MemoryNetwork()
    answered: list[str] = []

    async def answer(conn: PeerConnection, stream: Stream, _: wire.Ping) -> None:
        answered.append(conn.node_id)
        await stream.write(wire.encode_frame(wire.Pong(node_id="", track_count=0, version="x")), timeout=5)

    policy = Policy()
    blocked: set[str] = set()

    class Blocklist:
        def is_blocked(self, node_id: str) -> bool:
            return node_id in blocked

    inbound = Inbound(Blocklist(), policy)
    inbound.register(wire.Ping, answer)

    async def admit_all(_: str) -> bool:
        return True

    ours = await network.start(os.urandom(32), Callbacks(on_stream=inbound.dispatch, admit=admit_all))
    theirs = await network.start(os.urandom(32), Callbacks(on_stream=_refuse, admit=admit_all))
    conn = await theirs.connect(ours.address())

    async def ping() -> bytes:
        stream = await conn.open_stream(timeout=5)
        await stream.write(wire.encode_frame(wire.Ping()), timeout=5)
        await stream.finish(ack_timeout=None)
        return await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=5)

    assert isinstance(wire.decode(await ping()), wire.Pong)
    assert answered == [theirs.node_id]

    blocked.add(theirs.node_id)  # a block that has not closed this connection (yet)
    with pytest.raises((StreamError, ConnectionClosed)):
        await ping()
    failure = await conn.wait_closed()
    assert failure.code == CloseCode.BLOCKED
    assert answered == [theirs.node_id]


# --- whole instances: no part reaches a blocked peer --------------------------------------------------------------


class Streams:
    """Every stream opened on the network: (sender, receiver, first message type)."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, str]] = []

    def __call__(self, sender: str, receiver: str, first: bytes) -> bool:
        kind = type(wire.decode_frame(first)).__name__ if first else ""
        self.opened.append((sender, receiver, kind))
        return False  # watch only

    def between(self, sender: str, receiver: str) -> list[str]:
        return [kind for s, r, kind in self.opened if (s, r) == (sender, receiver)]


async def test_no_part_of_a_node_reaches_a_blocked_peer(start_node: StartNode, network: MemoryNetwork) -> None:
    a = await start_node("a", network=network)
    b = await start_node("b", network=network, P2P_SEED_PEERS=a.dial_address())
    c = await start_node("c", network=network, P2P_SEED_PEERS=a.dial_address())
    await _add_own_tracks(a, 3)
    for peer in (b, c):
        assert await eventually(lambda peer=peer: _online(a, peer.node_id))  # type: ignore[misc]
        assert await eventually(lambda peer=peer: _has_filter(a, peer.node_id))  # type: ignore[misc]

    # what POST /api/admin/blocked-domains does (201 with the new block)
    async with a.context.db.transaction() as session:
        added = await p2p_service.block(a.context, session, [BlockExport(domain=b.node_id, reason="spam")], None)
    assert [block.domain for block in added] == [b.node_id]
    assert await eventually(lambda: _disconnected(a, b.node_id))
    streams = Streams()
    network.lose(streams)

    # Each part is asked to reach both peers; only C is reached.
    for peer in (b, c):
        a.node.sync.push(peer.node_id, full=True, min_interval=0)
    assert await eventually(lambda: _received(streams, a.node_id, c.node_id, "CatalogSync"))
    await a.node.contacts.run_round()
    fanout = await a.search.fanout.ask_peers("", 10)
    assert fanout.asked == 1  # C: B's filter went with the block
    facts = TrackFacts(
        hash="cd" * 32, title="Held", artist_name="B", album_title=None, duration_secs=1.0, format="flac"
    )
    a.search.fanout.recent.remember([RemoteHit(search_item(facts, b.node_id, 1.0), (b.node_id,))])
    # what POST /api/p2p/search/import does: 503 no_source
    with pytest.raises(ServiceUnavailable) as refused:
        await search_service.import_result(a.context, facts.hash, "admin")
    assert refused.value.code == "no_source"

    assert streams.between(a.node_id, b.node_id) == []
    assert not a.node.transport.connections(b.node_id)
    assert "SearchQuery" in streams.between(a.node_id, c.node_id)


async def _has_filter(instance: Any, node_id: str) -> bool:
    return node_id in instance.search.filters.received


async def _disconnected(instance: Any, node_id: str) -> bool:
    return not instance.node.transport.connections(node_id)


async def _received(streams: Streams, sender: str, receiver: str, *kinds: str) -> bool:
    return any(kind in kinds for kind in streams.between(sender, receiver))
