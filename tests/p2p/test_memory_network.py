"""What only the in-memory network has: node ids from keys as iroh derives them, addresses that must match, a node
that vanishes and comes back, heartbeats, and a writer held back by a slow reader."""

from __future__ import annotations

import asyncio
import os
import struct

import pytest

from soundtime.p2p.transport import (
    Callbacks,
    CloseCode,
    ConnectFailed,
    ConnectionClosed,
    MemoryNetwork,
    PeerAddress,
    PeerConnection,
    Stream,
    StreamCode,
    StreamError,
    StreamTimeout,
    node_id_of_secret,
    normalize_node_id,
    parse_peer_address,
)


async def admit_all(_: str) -> bool:
    return True


async def echo(_: PeerConnection, stream: Stream) -> None:
    body = await stream.read_frame(1 << 20, timeout=5)
    await stream.write_frame(body, timeout=5)


async def test_nodes_get_their_iroh_ids_and_a_dialable_address_each() -> None:
    network = MemoryNetwork()
    key = os.urandom(32)
    a = await network.start(key, Callbacks(on_stream=echo, admit=admit_all))
    b = await network.start(os.urandom(32), Callbacks(on_stream=echo, admit=admit_all))

    assert a.node_id == node_id_of_secret(key) == normalize_node_id(a.node_id)
    assert a.address().direct_addresses != b.address().direct_addresses
    assert parse_peer_address(a.ticket()) == a.address()
    assert parse_peer_address(f"{a.node_id}@{a.address().direct_addresses[0]}") == a.address()
    # A node is dialled at its own address only: an id alone, or another node's address, reaches nobody.
    for wrong in (PeerAddress(a.node_id), PeerAddress(a.node_id, b.address().direct_addresses)):
        with pytest.raises(ConnectFailed):
            await b.connect(wrong)
    conn = await b.connect(a.address())
    stream = await conn.open_stream()
    await stream.write_frame(b"hi", timeout=1)
    assert await stream.read_frame(10, timeout=1) == b"hi"
    await a.close()
    await b.close()


async def test_a_node_that_vanishes_loses_every_connection_until_it_is_back() -> None:
    network = MemoryNetwork()
    lost: list[str] = []

    async def on_lost(node_id: str) -> None:
        lost.append(node_id)

    a = await network.start(os.urandom(32), Callbacks(on_stream=echo, admit=admit_all, on_connection_lost=on_lost))
    b = await network.start(os.urandom(32), Callbacks(on_stream=echo, admit=admit_all))
    conn = await a.connect(b.address())

    network.cut(b.node_id)

    closed = await asyncio.wait_for(conn.wait_closed(), 1)
    assert closed.code is None  # no CONNECTION_CLOSE: it just went away
    await asyncio.sleep(0)
    assert lost == [b.node_id]
    with pytest.raises(ConnectFailed):
        await a.connect(b.address())
    with pytest.raises(ConnectionClosed):
        await conn.open_stream()
    network.heal(b.node_id)
    again = await a.connect(b.address())
    assert again is not conn
    assert not again.is_closed
    assert b.connections(a.node_id)


async def test_heartbeats_arrive_as_streams_on_our_outgoing_connections() -> None:
    network = MemoryNetwork(heartbeat_interval=0.01)
    beats: list[bytes] = []
    three = asyncio.Event()

    async def record(_: PeerConnection, stream: Stream) -> None:
        beats.append(await stream.read_frame(16, timeout=1))
        if len(beats) >= 3:
            three.set()

    a = await network.start(
        os.urandom(32), Callbacks(on_stream=echo, admit=admit_all, heartbeat_frame=lambda: struct.pack(">I", 2) + b"hb")
    )
    b = await network.start(os.urandom(32), Callbacks(on_stream=record, admit=admit_all))
    await a.connect(b.address())
    (incoming,) = b.connections(a.node_id)

    await asyncio.wait_for(three.wait(), 1)
    assert set(beats) == {b"hb"}
    await a.close()
    assert (await incoming.wait_closed()).code == CloseCode.SHUTDOWN


async def test_a_writer_waits_for_a_reader_a_window_behind() -> None:
    network = MemoryNetwork()
    release = asyncio.Event()

    async def slow(_: PeerConnection, stream: Stream) -> None:
        await release.wait()
        while await stream.read_chunk(1 << 20, stall_timeout=1):
            pass

    a = await network.start(os.urandom(32), Callbacks(on_stream=echo, admit=admit_all))
    b = await network.start(os.urandom(32), Callbacks(on_stream=slow, admit=admit_all))
    stream = await (await a.connect(b.address())).open_stream()

    with pytest.raises(StreamTimeout):  # 3 MiB do not fit in the 1 MiB window of a reader that does not read
        await stream.write(bytes(3 << 20), timeout=0.1)

    stream = await (await a.connect(b.address())).open_stream()
    release.set()
    await stream.write(bytes(3 << 20), timeout=1)  # a reader that reads lets it through
    assert await stream.finish(ack_timeout=1) is None


async def test_a_lost_stream_never_reaches_the_peer_and_its_sender_sees_it_fail() -> None:
    network = MemoryNetwork()
    served: list[bytes] = []

    async def record(_: PeerConnection, stream: Stream) -> None:
        served.append(await stream.read_frame(1 << 20, timeout=5))

    a = await network.start(os.urandom(32), Callbacks(on_stream=echo, admit=admit_all))
    b = await network.start(os.urandom(32), Callbacks(on_stream=record, admit=admit_all))
    seen: list[tuple[str, str, bytes]] = []

    def lose_the_second(sender: str, receiver: str, first: bytes) -> bool:
        seen.append((sender, receiver, first))
        return first.endswith(b"second")

    restore = network.lose(lose_the_second)
    conn = await a.connect(b.address())
    for body in (b"first", b"second", b"third"):
        stream = await conn.open_stream()
        if body == b"second":
            with pytest.raises(StreamError) as lost:
                await stream.write_frame(body, timeout=1)
            assert lost.value.code == StreamCode.INTERNAL
        else:
            await stream.write_frame(body, timeout=1)
            assert await stream.finish(ack_timeout=1) in (None, StreamCode.DONE)
    await asyncio.sleep(0.05)
    assert served == [b"first", b"third"]
    assert [(s, r) for s, r, _ in seen] == [(a.node_id, b.node_id)] * 3
    assert seen[1][2] == struct.pack(">I", 6) + b"second"

    restore()
    stream = await conn.open_stream()
    await stream.write_frame(b"second", timeout=1)
    await stream.finish(ack_timeout=1)
    await asyncio.sleep(0.05)
    assert served == [b"first", b"third", b"second"]
    await a.close()
    await b.close()
