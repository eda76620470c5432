"""Transports: the contract both implementations keep (iroh endpoints on loopback with relays off, and the
in-memory network), and what only the iroh transport has (caps, idle timers, heartbeats, addresses)."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from soundtime.p2p.identity import load_or_create_secret_key
from soundtime.p2p.transport import (
    ALPN,
    Callbacks,
    CloseCode,
    ConnectFailed,
    ConnectionClosed,
    FrameTooLarge,
    IrohTransport,
    MemoryNetwork,
    PeerAddress,
    PeerConnection,
    Stream,
    StreamCode,
    StreamError,
    StreamTimeout,
    Transport,
    TransportError,
    parse_peer_address,
    send_patch_applied,
    set_send_patch,
)

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 8 << 20
BIG_REPLY = os.urandom(5 * 1000 * 1000)
NOT_A_KEY = "02" * 32  # 64 hex characters that are not an Ed25519 point
VALID_ID = "810d620bf0831158f30b22d9db47a4d438ef5b25f4bda05b2aa61a91b2d58400"


class Server:
    """A handler whose behaviour is chosen by the first byte of the request frame."""

    def __init__(self) -> None:
        self.active = 0
        self.most_active = 0
        self.failures: list[BaseException] = []
        self.heartbeats = 0

    async def __call__(self, conn: PeerConnection, stream: Stream) -> None:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await self._serve(stream)
        except TransportError as exc:
            self.failures.append(exc)
            raise
        finally:
            self.active -= 1

    async def _serve(self, stream: Stream) -> None:
        body = await stream.read_frame(LIMIT, timeout=5)
        command, rest = body[:1], body[1:]
        if command == b"E":  # echo
            await stream.write_frame(rest, timeout=5)
        elif command == b"W":  # echo after a pause
            await asyncio.sleep(0.05)
            await stream.write_frame(rest, timeout=5)
        elif command == b"B":  # a big reply, written just before returning
            await stream.write(BIG_REPLY, timeout=10)
        elif command == b"S":  # silence while the client gives up, then a late answer
            await asyncio.sleep(0.5)
            await stream.write(b"late", timeout=5)
        elif command == b"L":  # announce a frame far over the client's limit, send a little, then more
            await stream.write(struct.pack(">I", 100 << 20) + b"x" * 1000, timeout=5)
            await asyncio.sleep(0.5)
            await stream.write(b"x" * 1000, timeout=5)
        elif command == b"R":  # some bytes, then a reset
            await stream.write(b"partial", timeout=5)
            await asyncio.sleep(0.05)
            await stream.reset(StreamCode.PROTOCOL_ERROR)
        elif command == b"X":
            raise RuntimeError("handler bug")
        else:
            self.heartbeats += 1


async def admit_all(_: str) -> bool:
    return True


IrohStart = Callable[..., Awaitable[IrohTransport]]
Start = Callable[..., Awaitable[Transport]]
#: Options only the iroh transport has (the in-memory network has no sockets, caps or idle timers).
IROH_ONLY = {"max_connections", "idle_timeout", "heartbeat_interval", "heartbeat_timeout", "bind_host_v6"}


@pytest.fixture
async def start_iroh() -> AsyncIterator[IrohStart]:
    """``await start_iroh(**options)``: an iroh transport on a random port; all are closed at the end of the test."""
    started: list[IrohTransport] = []

    async def make(**options: Any) -> IrohTransport:
        options.setdefault("secret_key", os.urandom(32))
        options.setdefault("on_stream", Server())
        options.setdefault("admit", admit_all)
        transport = await IrohTransport.start(port=0, relay=False, **options)
        started.append(transport)
        return transport

    yield make
    for transport in started:
        await transport.close()


@pytest.fixture(params=["iroh", "memory"])
async def start(request: pytest.FixtureRequest, start_iroh: IrohStart) -> AsyncIterator[Start]:
    """``await start(**options)``: a transport of each implementation (the same contract holds for both)."""
    if request.param == "iroh":
        yield start_iroh
        return
    network = MemoryNetwork()
    started: list[Transport] = []

    async def make(**options: Any) -> Transport:
        assert not IROH_ONLY & set(options), "an iroh-only option in a test of the common contract"
        callbacks = Callbacks(
            on_stream=options.pop("on_stream", None) or Server(),
            admit=options.pop("admit", admit_all),
            on_connection_lost=options.pop("on_connection_lost", None),
            heartbeat_frame=options.pop("heartbeat_frame", None),
        )
        transport = await network.start(options.pop("secret_key", os.urandom(32)), callbacks)
        assert not options
        started.append(transport)
        return transport

    yield make
    for transport in started:
        await transport.close()


async def request(conn: PeerConnection, body: bytes, *, within: float = 5) -> bytes:
    stream = await conn.open_stream(timeout=5)
    await stream.write_frame(body, timeout=within)
    await stream.finish(ack_timeout=within)
    return await stream.read_frame(LIMIT, timeout=within)


def addresses_of(transport: Transport) -> set[str]:
    """Where a peer may see this node: its loopback addresses and the direct ones it advertises. A connection
    dialled on loopback may move to another address of the same host (iroh opens a path to each advertised
    address and may drop the first), so which one a connection shows at a given moment is a race."""
    return {*transport.local_address().direct_addresses, *transport.address().direct_addresses}


async def eventually(check: Callable[[], bool], *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# --- addresses ------------------------------------------------------------------------------------------------


async def test_parse_peer_address_accepts_ids_socket_addresses_and_tickets(start: Start) -> None:
    server = await start()
    node = server.node_id

    assert parse_peer_address(f"  {node.upper()} ") == PeerAddress(node)
    assert parse_peer_address(f"{node}@127.0.0.1:11204") == PeerAddress(node, ("127.0.0.1:11204",))
    assert parse_peer_address(f"{node}@[::1]:11204") == PeerAddress(node, ("[::1]:11204",))
    assert parse_peer_address(f"{node}@[0:0::1]:80") == PeerAddress(node, ("[::1]:80",))
    ticket = parse_peer_address(server.ticket())
    assert ticket.node_id == node
    assert set(ticket.direct_addresses) == set(server.address().direct_addresses)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "64 hexadecimal"),
        ("abc", "64 hexadecimal"),
        ("g" * 64, "64 hexadecimal"),
        (NOT_A_KEY, "not a valid Ed25519 public key"),
        (f"{NOT_A_KEY}@127.0.0.1:1", "not a valid Ed25519 public key"),
        ("{node}@example.org:11204", "not an IP address"),
        ("{node}@127.0.0.1", "expected ip:port"),
        ("{node}@127.0.0.1:0", "from 1 to 65535"),
        ("{node}@127.0.0.1:65536", "from 1 to 65535"),
        ("{node}@127.0.0.1:http", "from 1 to 65535"),
        ("{node}@::1:11204", "expected ip:port"),
        ("{node}@[127.0.0.1]:11204", "only IPv6 addresses go in brackets"),
        ("{node}@999.0.0.1:11204", "not an IP address"),
        ("endpointnotaticket", "invalid endpoint ticket"),
    ],
)
def test_parse_peer_address_rejects_anything_else(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_peer_address(text.format(node=VALID_ID))


# --- request / response ---------------------------------------------------------------------------------------


async def test_a_request_is_answered_on_the_same_stream(start: Start) -> None:
    server, client = await start(), await start()

    conn = await client.connect(server.local_address())

    assert conn.outgoing
    assert conn.node_id == server.node_id
    assert await request(conn, b"Ehello") == b"hello"
    assert set(conn.remote_addresses()) & addresses_of(server)
    served = server.connections(client.node_id)
    assert len(served) == 1, served
    assert not served[0].outgoing
    assert set(served[0].remote_addresses()) & addresses_of(client)


async def test_a_connection_knows_its_round_trip_time_and_the_path_to_its_peer(start_iroh: IrohStart) -> None:
    server, client = await start_iroh(), await start_iroh()

    conn = await client.connect(server.local_address())

    assert await request(conn, b"Ehello") == b"hello"
    assert conn.rtt_ms() is not None
    assert set(conn.remote_addresses()) & addresses_of(server)
    (served,) = server.connections(client.node_id)
    assert set(served.remote_addresses()) & addresses_of(client)


async def test_a_stream_opened_on_an_accepted_connection_is_refused(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())
    assert await request(conn, b"Ehello") == b"hello"
    (served,) = server.connections(client.node_id)

    with pytest.raises(StreamError) as raised:  # requests travel on the requester's own connection (spec §2)
        await request(served, b"Ereverse")

    assert raised.value.code == StreamCode.REFUSED
    assert await request(conn, b"Estill") == b"still"


async def test_a_request_the_server_refuses_is_seen_as_refused_by_the_sender(start: Start) -> None:
    async def refuse(_: PeerConnection, stream: Stream) -> None:
        await stream.abort(StreamCode.REFUSED)

    server, client = await start(on_stream=refuse), await start()
    conn = await client.connect(server.local_address())
    stream = await conn.open_stream()
    await stream.write_frame(b"Ehello", timeout=5)

    stopped = await stream.finish(ack_timeout=5)

    if stopped is None:  # acknowledged before the refusal arrived: the reset instead of a FIN tells
        with pytest.raises(StreamError) as raised:
            await stream.read_to_end(1024, timeout=5)
        assert raised.value.code == StreamCode.REFUSED
    else:
        assert stopped == StreamCode.REFUSED


async def test_a_connection_the_peer_closes_is_reported_lost(start: Start) -> None:
    lost: list[str] = []

    async def on_lost(node_id: str) -> None:
        lost.append(node_id)

    server, client = await start(), await start(on_connection_lost=on_lost)
    conn = await client.connect(server.local_address())
    assert await request(conn, b"Ehello") == b"hello"

    assert server.close_peer(client.node_id, CloseCode.NORMAL, b"bye") == 1

    closed = await asyncio.wait_for(conn.wait_closed(), 5)
    assert (closed.code, closed.reason) == (CloseCode.NORMAL, "bye")
    await eventually(lambda: lost == [server.node_id])
    assert client.connections() == []


async def test_a_big_reply_written_just_before_the_handler_returns_is_delivered(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())

    async def fetch() -> bytes:
        stream = await conn.open_stream()
        await stream.write_frame(b"B", timeout=5)
        await stream.finish(ack_timeout=5)
        return await stream.read_to_end(LIMIT, timeout=20)

    replies = await asyncio.gather(*(fetch() for _ in range(3)))

    assert all(reply == BIG_REPLY for reply in replies)


async def test_send_patch_is_applied_and_data_is_byte_identical(start_iroh: IrohStart) -> None:
    assert send_patch_applied()
    server, client = await start_iroh(), await start_iroh()
    conn = await client.connect(server.local_address())

    for payload in (b"", b"\x00", os.urandom(1024 * 1024 + 3)):
        assert await request(conn, b"E" + payload) == payload

    try:
        assert not set_send_patch(False)
        assert not send_patch_applied()
        small = os.urandom(4096)
        assert await request(conn, b"E" + small) == small
    finally:
        assert set_send_patch(True)


# --- limits and failures --------------------------------------------------------------------------------------


async def test_frame_too_large_is_raised_from_the_length_before_the_body(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())
    stream = await conn.open_stream()
    await stream.write_frame(b"L", timeout=5)
    await stream.finish(ack_timeout=5)

    started = time.monotonic()
    with pytest.raises(FrameTooLarge) as raised:
        await stream.read_frame(1 << 20, timeout=10)

    assert time.monotonic() - started < 5
    assert raised.value.length == 100 << 20
    assert raised.value.limit == 1 << 20
    assert await request(conn, b"Estill fine") == b"still fine"


async def test_an_oversized_request_is_refused_by_the_server_with_too_large(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())
    stream = await conn.open_stream()
    await stream.write(struct.pack(">I", LIMIT + 1) + b"E", timeout=5)

    with pytest.raises(StreamError) as raised:
        await stream.read_frame(LIMIT, timeout=5)

    assert raised.value.code == StreamCode.TOO_LARGE


async def test_a_silent_peer_times_out_and_the_connection_still_works(start: Start) -> None:
    handler = Server()
    server, client = await start(on_stream=handler), await start()
    conn = await client.connect(server.local_address())
    stream = await conn.open_stream()
    await stream.write_frame(b"S", timeout=5)
    await stream.finish(ack_timeout=5)

    started = time.monotonic()
    with pytest.raises(StreamTimeout):
        await stream.read_frame(LIMIT, timeout=0.3)

    assert 0.25 < time.monotonic() - started < 2
    with pytest.raises(StreamError):  # the stream is over for good
        await stream.read_chunk(10, stall_timeout=1)
    assert await request(conn, b"Eagain") == b"again"
    await eventually(lambda: any(getattr(exc, "code", None) == StreamCode.TIMEOUT for exc in handler.failures))


async def test_a_write_the_peer_never_reads_times_out(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())
    stream = await conn.open_stream()
    await stream.write_frame(b"S", timeout=5)

    async def flood() -> None:  # flow control stops us: the peer's handler never reads past the first frame
        for _ in range(100):
            await stream.write(BIG_REPLY, timeout=0.3)

    with pytest.raises(StreamTimeout):
        await flood()

    assert await request(conn, b"Eafter") == b"after"


async def test_read_to_end_over_the_limit_and_the_stream_context_manager(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())

    async with await conn.open_stream() as stream:
        await stream.write_frame(b"B", timeout=5)
        await stream.finish(ack_timeout=5)
        with pytest.raises(FrameTooLarge):
            await stream.read_to_end(1 << 20, timeout=10)

    async with await conn.open_stream() as stream:
        await stream.write_frame(b"Ectx", timeout=5)
        assert await stream.read_frame(LIMIT, timeout=5) == b"ctx"


async def test_a_reset_is_an_error_not_an_end(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())
    stream = await conn.open_stream()
    await stream.write_frame(b"R", timeout=5)
    await stream.finish(ack_timeout=5)

    received = bytearray()

    async def read_until_the_end() -> None:
        while chunk := await stream.read_chunk(1024, stall_timeout=5):
            received.extend(chunk)

    with pytest.raises(StreamError) as raised:  # a reset must not look like a clean end (b"")
        await read_until_the_end()

    assert raised.value.code == StreamCode.PROTOCOL_ERROR
    assert bytes(received) in (b"", b"partial")


async def test_a_failing_handler_resets_its_stream_only(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())

    results = await asyncio.gather(
        request(conn, b"X"), *(request(conn, b"E%d" % i) for i in range(10)), return_exceptions=True
    )

    failed = results[0]
    assert isinstance(failed, StreamError)
    assert failed.code == StreamCode.INTERNAL
    assert results[1:] == [b"%d" % i for i in range(10)]
    assert not conn.is_closed


async def test_many_concurrent_streams_queue_behind_the_per_connection_cap(start_iroh: IrohStart) -> None:
    handler = Server()
    server, client = await start_iroh(on_stream=handler), await start_iroh()
    conn = await client.connect(server.local_address())

    replies = await asyncio.gather(*(request(conn, b"W%d" % i, within=15) for i in range(200)))

    assert replies == [b"%d" % i for i in range(200)]
    assert 1 < handler.most_active <= 64


async def test_dialling_nobody_fails_quickly(start: Start) -> None:
    client, other = await start(), await start()
    nobody = PeerAddress(other.node_id, ("127.0.0.1:9",))

    with pytest.raises(ConnectFailed):
        await client.connect(nobody, timeout=0.5)
    with pytest.raises(ConnectFailed):
        await client.connect(client.local_address())


# --- connection lifecycle -------------------------------------------------------------------------------------


async def test_connections_are_pooled_and_concurrent_dials_share_one(start: Start) -> None:
    server, client = await start(), await start()

    conns = await asyncio.gather(*(client.connect(server.local_address()) for _ in range(5)))
    again = await client.connect(server.local_address())

    assert all(conn is conns[0] for conn in conns)
    assert again is conns[0]
    await eventually(lambda: len(server.connections(client.node_id)) == 1)


async def test_connections_over_the_cap_are_refused_before_the_handshake(start_iroh: IrohStart) -> None:
    server, first, second = await start_iroh(max_connections=1), await start_iroh(), await start_iroh()
    conn = await first.connect(server.local_address())
    await eventually(lambda: len(server.connections()) == 1)

    with pytest.raises(ConnectFailed, match="refused"):
        await second.connect(server.local_address())

    assert await request(conn, b"Eok") == b"ok"


async def test_one_identity_holds_at_most_its_allowance_of_incoming_connections(start_iroh: IrohStart) -> None:
    allowance = 2  # the node passes Limits.max_incoming_per_peer (4)
    server = await start_iroh(max_incoming_per_peer=allowance)
    key = os.urandom(32)
    clients = [await start_iroh(secret_key=key) for _ in range(allowance + 1)]
    conns = []
    for count, client in enumerate(clients, start=1):
        conns.append(await client.connect(server.local_address()))
        expected = min(count, allowance)
        await eventually(lambda e=expected: len(server.connections(clients[0].node_id)) == e)

    closed = await asyncio.wait_for(conns[0].wait_closed(), 5)
    assert closed.code == CloseCode.OVERLOADED
    assert await request(conns[-1], b"Eok") == b"ok"


async def test_an_incoming_connection_without_streams_is_closed_when_idle(start_iroh: IrohStart) -> None:
    server = await start_iroh(idle_timeout=0.4, heartbeat_interval=0.1)
    client = await start_iroh()
    conn = await client.connect(server.local_address())
    closed = await asyncio.wait_for(conn.wait_closed(), 5)
    assert closed.code == CloseCode.IDLE


async def test_a_refused_node_sees_close_code_blocked(start: Start) -> None:
    async def refuse(_: str) -> bool:
        return False

    lost: list[str] = []

    async def on_lost(node_id: str) -> None:
        lost.append(node_id)

    server, client = await start(admit=refuse), await start(on_connection_lost=on_lost)

    async def attempt() -> None:
        conn = await client.connect(server.local_address())
        await request(conn, b"Ehello")

    with pytest.raises((ConnectFailed, ConnectionClosed)) as raised:
        await attempt()

    if isinstance(raised.value, ConnectionClosed):
        assert raised.value.code == CloseCode.BLOCKED
        assert raised.value.reason == "blocked"
    assert server.connections() == []
    await eventually(lambda: lost == [server.node_id])


async def test_close_peer_closes_incoming_and_outgoing_connections(start: Start) -> None:
    a, b = await start(), await start()
    a_to_b = await a.connect(b.local_address())
    b_to_a = await b.connect(a.local_address())
    assert await request(a_to_b, b"E1") == b"1"
    assert await request(b_to_a, b"E2") == b"2"
    await eventually(lambda: len(a.connections(b.node_id)) == 2 and len(b.connections(a.node_id)) == 2)
    b_incoming = next(conn for conn in b.connections(a.node_id) if not conn.outgoing)

    assert a.close_peer(b.node_id, CloseCode.BLOCKED, b"blocked") == 2

    assert a.connections(b.node_id) == []
    for conn in (b_to_a, b_incoming):
        closed = await asyncio.wait_for(conn.wait_closed(), 5)
        assert (closed.code, closed.reason) == (CloseCode.BLOCKED, "blocked")
    await eventually(lambda: b.connections(a.node_id) == [])
    assert (await a.connect(b.local_address())) is not a_to_b  # a later dial makes a new connection


async def test_an_idle_outgoing_connection_is_closed_without_reporting_a_loss(start_iroh: IrohStart) -> None:
    lost: list[str] = []

    async def on_lost(node_id: str) -> None:
        lost.append(node_id)

    server = await start_iroh()
    client = await start_iroh(idle_timeout=0.4, heartbeat_interval=0.1, on_connection_lost=on_lost)
    conn = await client.connect(server.local_address())
    served = await asyncio.wait_for(_first_incoming(server, client.node_id), 5)

    closed = await asyncio.wait_for(served.wait_closed(), 5)

    assert closed.code == CloseCode.IDLE
    assert conn.is_closed
    assert client.connections() == []
    assert lost == []


async def test_heartbeats_keep_a_live_peer_and_detect_a_dead_one(start_iroh: IrohStart, tmp_path: Path) -> None:
    handler = Server()
    lost: list[str] = []

    async def on_lost(node_id: str) -> None:
        lost.append(node_id)

    live = await start_iroh(on_stream=handler)
    client = await start_iroh(
        heartbeat_frame=lambda: struct.pack(">I", 2) + b"hb",
        heartbeat_interval=0.2,
        heartbeat_timeout=0.2,
        on_connection_lost=on_lost,
    )
    child, address = await _spawn_peer(tmp_path)
    try:
        to_live = await client.connect(live.local_address())
        to_child = await client.connect(address)
        assert await request(to_child, b"Echild") == b"child"

        os.kill(child.pid, signal.SIGKILL)  # no CONNECTION_CLOSE: the peer just goes silent
        await child.wait()
        killed = time.monotonic()
        await eventually(lambda: lost == [address.node_id])

        assert time.monotonic() - killed < 1.5
        closed = await to_child.wait_closed()
        assert closed.code == CloseCode.HEARTBEAT_TIMEOUT
        assert not to_live.is_closed
        await eventually(lambda: handler.heartbeats >= 3)
        assert not to_live.is_closed
        assert await request(to_live, b"Estill") == b"still"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_the_node_id_is_stable_across_restarts_with_the_same_key(start: Start, tmp_path: Path) -> None:
    key = load_or_create_secret_key(tmp_path / "secret.key")
    first = await start(secret_key=key)
    node_id = first.node_id
    await first.close()
    await first.close()  # idempotent

    second = await start(secret_key=load_or_create_secret_key(tmp_path / "secret.key"))

    assert second.node_id == node_id
    assert len(node_id) == 64
    assert node_id == node_id.lower()
    with pytest.raises(ConnectFailed):
        await first.connect(second.local_address())


async def test_addresses_and_ports(start_iroh: IrohStart) -> None:
    transport = await start_iroh()

    ports = transport.bound_ports()
    local = transport.local_address()

    assert ports
    assert all(0 < port < 65536 for port in ports)
    assert local.direct_addresses[0] == f"127.0.0.1:{ports[0]}"
    assert transport.address().node_id == transport.node_id
    assert transport.address().direct_addresses
    assert not any(address.startswith(("0.0.0.0", "[::]")) for address in transport.address().direct_addresses)
    assert transport.relay_url() is None
    assert ALPN == b"soundtime/p2p/1"


async def test_ipv6_loopback_and_an_endpoint_without_a_pinned_ipv6_port(start_iroh: IrohStart) -> None:
    server = await start_iroh()
    v6 = [address for address in server.local_address().direct_addresses if address.startswith("[::1]:")]
    if not v6:
        pytest.skip("no IPv6 on this host")
    client = await start_iroh(bind_host_v6=None)

    conn = await client.connect(PeerAddress(server.node_id, tuple(v6)))

    assert await request(conn, b"Ev6") == b"v6"
    assert client.local_address().direct_addresses[0] == f"127.0.0.1:{client.bound_ports()[0]}"


async def test_closing_a_transport_closes_its_connections_with_shutdown(start: Start) -> None:
    server, client = await start(), await start()
    conn = await client.connect(server.local_address())
    served = await asyncio.wait_for(_first_incoming(server, client.node_id), 5)

    await client.close()

    assert (await conn.wait_closed()).code == CloseCode.SHUTDOWN
    closed = await asyncio.wait_for(served.wait_closed(), 5)
    assert (closed.code, closed.reason) == (CloseCode.SHUTDOWN, "shutdown")
    with pytest.raises(ConnectFailed):
        await client.connect(server.local_address())


async def _first_incoming(server: Transport, node_id: str) -> PeerConnection:
    while True:
        for conn in server.connections(node_id):
            if not conn.outgoing:
                return conn
        await asyncio.sleep(0.02)


CHILD = """
import asyncio, os, sys
from soundtime.p2p.transport import IrohTransport

async def main():
    async def on_stream(conn, stream):
        body = await stream.read_frame(1 << 20, timeout=5)
        await stream.write_frame(body[1:], timeout=5)

    async def admit(node_id):
        return True

    key = os.urandom(32)
    transport = await IrohTransport.start(secret_key=key, port=0, relay=False, on_stream=on_stream, admit=admit)
    print(transport.node_id, transport.bound_ports()[0], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await transport.close()

asyncio.run(main())
"""


async def _spawn_peer(tmp_path: Path) -> tuple[asyncio.subprocess.Process, PeerAddress]:
    script = tmp_path / "peer.py"
    script.write_text(CHILD)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=ROOT,
        env=environment,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    node_id, port = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().split()
    return child, PeerAddress(node_id, (f"127.0.0.1:{port}",))
