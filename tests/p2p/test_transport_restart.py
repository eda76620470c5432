"""A peer that restarts, and a peer blocked while we dial it: real iroh endpoints on loopback.

- Our pooled connection to a peer that was SIGKILLed leads to its dead process. When the peer is back and has
  contacted us (as a server does at start), a fetch from it succeeds at once (same or new UDP port): not a failure
  until a heartbeat notices the dead connection.
- A fetch under way on that dead connection when the heartbeat closes it is tried once more on a fresh dial.
- A peer that refuses us (closes with "blocked") is not dialled a second time by the same request.
- Blocking a peer while a dial to it is under way abandons the dial: no connection with it becomes usable or
  remains; later dials work.

The peer runs in a child process so that it can die without a CONNECTION_CLOSE (SIGKILL), as a crashed server does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from soundtime.p2p import wire
from soundtime.p2p.errors import PeerUnavailable
from soundtime.p2p.messenger import PeerMessenger
from soundtime.p2p.policy import Policy
from soundtime.p2p.transport import (
    ConnectFailed,
    IrohTransport,
    PeerAddress,
    PeerConnection,
    Stream,
)

ROOT = Path(__file__).resolve().parents[2]
BLOB = os.urandom(300_000)
DIGEST = blake3(BLOB).hexdigest()
HEARTBEAT = wire.encode_frame(wire.Pong(node_id="0" * 64, track_count=0, version=None))

#: A soundtime/p2p/1 peer in a process of its own: serves one blob by FetchTrack; contacts us at start when told.
PEER = """
import asyncio, os, struct, sys
from soundtime.p2p import wire
from soundtime.p2p.transport import IrohTransport, PeerAddress

async def main():
    key, port, blob = bytes.fromhex(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()

    async def on_stream(conn, stream):
        message = wire.decode(await stream.read_frame(1 << 20, timeout=5))
        if isinstance(message, wire.FetchTrack):
            await stream.write(struct.pack(">I", len(blob)) + blob, timeout=10)

    async def admit(node_id):
        return True

    transport = await IrohTransport.start(secret_key=key, port=port, relay=False, on_stream=on_stream, admit=admit)
    if len(sys.argv) > 4:  # contact the listener, as a starting server contacts its peers
        node_id, address = sys.argv[4].split("@")
        stream = await (await transport.connect(PeerAddress(node_id, (address,)))).open_stream(timeout=5)
        await stream.write(wire.encode_frame(wire.Ping()), timeout=5)
        await stream.finish(ack_timeout=5)
    print(transport.node_id, transport.bound_ports()[0], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await transport.close()

asyncio.run(main())
"""


class Peer:
    """The child process holding one identity across restarts."""

    def __init__(self, tmp_path: Path) -> None:
        self.key = os.urandom(32)
        self.script = tmp_path / "peer.py"
        self.script.write_text(PEER)
        self.blob = tmp_path / "blob"
        self.blob.write_bytes(BLOB)
        self.process: asyncio.subprocess.Process | None = None
        self.node_id = ""
        self.port = 0

    @property
    def address(self) -> PeerAddress:
        return PeerAddress(self.node_id, (f"127.0.0.1:{self.port}",))

    async def start(self, *, port: int = 0, contact: IrohTransport | None = None) -> None:
        arguments = [str(self.script), self.key.hex(), str(port), str(self.blob)]
        if contact is not None:
            arguments.append(f"{contact.node_id}@{contact.local_address().direct_addresses[0]}")
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *arguments,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": path},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        node_id, bound = (await asyncio.wait_for(self.process.stdout.readline(), 60)).decode().split()
        self.node_id, self.port = node_id, int(bound)

    async def kill(self) -> None:
        """SIGKILL: the process ends without closing its connections."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def admit_all(_: str) -> bool:
    return True


async def eventually(check: Callable[[], bool], *, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Listener:
    """Our node's side: an iroh transport with the node's heartbeat, a messenger, and the contacts it served."""

    def __init__(self, transport: IrohTransport, peer: Peer, heard: list[str]) -> None:
        self.transport = transport
        self.peer = peer
        self.heard = heard  # the nodes whose messages it read
        self.known: dict[str, PeerAddress] = {}  # other nodes it may dial
        self.messenger = PeerMessenger(self._address_of, Policy())
        self.messenger.attach(transport)

    async def _address_of(self, node_id: str) -> PeerAddress | None:
        return self.peer.address if node_id == self.peer.node_id else self.known.get(node_id)

    async def fetch(self) -> bytes:
        stream, size = await self.messenger.open_blob(self.peer.node_id, DIGEST, max_size=len(BLOB))
        try:
            return b"".join([chunk async for chunk in self.messenger.read_blob(stream, size, DIGEST)])
        finally:
            await stream.abort()

    def pooled(self) -> PeerConnection:
        (conn,) = [c for c in self.transport.connections(self.peer.node_id) if c.outgoing]
        return conn


StartListener = Callable[..., Awaitable[Listener]]


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Peer]:
    started = Peer(tmp_path)
    yield started
    await started.stop()


@pytest.fixture
async def listener(peer: Peer) -> AsyncIterator[StartListener]:
    """``await listener(heartbeat_interval=..., heartbeat_timeout=...)``; closed at the end of the test."""
    started: list[IrohTransport] = []

    async def make(**options: Any) -> Listener:
        heard: list[str] = []

        async def on_stream(conn: PeerConnection, stream: Stream) -> None:
            await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=5)
            heard.append(conn.node_id)

        transport = await IrohTransport.start(
            secret_key=os.urandom(32),
            port=0,
            relay=False,
            on_stream=on_stream,
            admit=options.pop("admit", admit_all),
            heartbeat_frame=lambda: HEARTBEAT,  # as the node runs it
            **options,
        )
        started.append(transport)
        return Listener(transport, peer, heard)

    yield make
    for transport in started:
        await transport.close()


@pytest.mark.parametrize("port", ["same", "new"])
async def test_a_fetch_from_a_peer_back_from_a_crash_succeeds_at_once(
    peer: Peer, listener: StartListener, port: str
) -> None:
    # No heartbeat within the test: only what the transport does when the peer is back can save the fetch.
    ours = await listener(heartbeat_interval=600)
    await peer.start()
    assert await ours.fetch() == BLOB
    stale = ours.pooled()

    await peer.kill()
    await peer.start(port=peer.port if port == "same" else 0, contact=ours.transport)
    await eventually(lambda: any(not c.outgoing for c in ours.transport.connections(peer.node_id)))
    assert not stale.is_closed  # nothing told us the old process is gone

    assert await ours.fetch() == BLOB
    assert stale.is_closed
    assert ours.pooled() is not stale


async def test_a_fetch_on_a_connection_that_dies_under_it_is_tried_once_more_on_a_fresh_one(
    peer: Peer, listener: StartListener
) -> None:
    ours = await listener(heartbeat_interval=0.3, heartbeat_timeout=0.5)
    await peer.start()
    assert await ours.fetch() == BLOB
    stale = ours.pooled()

    await peer.kill()
    assert not stale.is_closed
    fetch = asyncio.create_task(ours.fetch())  # on the pooled connection to the dead process
    await peer.start(port=peer.port)  # back on its port, silently: only the heartbeat shows the connection dead

    assert await fetch == BLOB
    assert stale.is_closed


async def test_a_peer_that_refuses_us_is_not_dialled_again_by_the_same_request(
    peer: Peer, listener: StartListener
) -> None:
    admissions: list[str] = []

    async def refuse(node_id: str) -> bool:
        admissions.append(node_id)
        return False

    refusing, ours = await listener(admit=refuse), await listener()
    ours.known[refusing.transport.node_id] = refusing.transport.local_address()

    with pytest.raises(PeerUnavailable, match="blocked"):
        await ours.messenger.request(refusing.transport.node_id, wire.Ping())

    assert admissions == [ours.transport.node_id]


class HoldingProxy(asyncio.DatagramProtocol):
    """A UDP relay to one address that holds every packet until :meth:`release` (a dial then stays under way)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.held: list[bytes] = []
        self.holding = True
        self.client: tuple[str, int] | None = None
        self.downstream: asyncio.DatagramTransport | None = None
        self.upstream: asyncio.DatagramTransport | None = None

    @classmethod
    async def start(cls, target: str) -> HoldingProxy:
        host, _, port = target.rpartition(":")
        proxy = cls((host, int(port)))
        loop = asyncio.get_running_loop()
        proxy.downstream, _ = await loop.create_datagram_endpoint(lambda: proxy, local_addr=("127.0.0.1", 0))
        proxy.upstream, _ = await loop.create_datagram_endpoint(
            lambda: _Back(proxy), local_addr=("127.0.0.1", 0), remote_addr=proxy.target
        )
        return proxy

    @property
    def address(self) -> str:
        assert self.downstream is not None
        host, port = self.downstream.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.client = addr
        if self.holding:
            self.held.append(data)
        else:
            self._forward(data)

    def release(self) -> None:
        self.holding = False
        for data in self.held:
            self._forward(data)
        self.held.clear()

    def _forward(self, data: bytes) -> None:
        assert self.upstream is not None
        self.upstream.sendto(data)

    def answer(self, data: bytes) -> None:
        if self.downstream is not None and self.client is not None:
            self.downstream.sendto(data, self.client)

    def close(self) -> None:
        for transport in (self.downstream, self.upstream):
            if transport is not None:
                transport.close()


class _Back(asyncio.DatagramProtocol):
    def __init__(self, proxy: HoldingProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.proxy.answer(data)


async def test_blocking_a_peer_abandons_a_dial_under_way(listener: StartListener) -> None:
    server, ours = await listener(), await listener()
    client = ours.transport
    v4 = next(a for a in server.transport.local_address().direct_addresses if a.startswith("127."))
    proxy = await HoldingProxy.start(v4)
    try:
        target = PeerAddress(server.transport.node_id, (proxy.address,))
        dial = asyncio.create_task(client.connect(target, timeout=10))
        await eventually(lambda: bool(proxy.held))  # the handshake has begun and waits

        client.close_peer(server.transport.node_id)  # the admin blocks the peer
        proxy.release()  # the handshake could complete now

        with pytest.raises(ConnectFailed, match="abandoned"):
            await dial
        assert client.connections(server.transport.node_id) == []
        await eventually(lambda: server.transport.connections(client.node_id) == [])

        # Nothing of the abandoned dial stays in the way (e.g. the peer is unblocked).
        again = await client.connect(target, timeout=10)
        stream = await again.open_stream(timeout=5)
        await stream.write(wire.encode_frame(wire.Ping()), timeout=5)
        await stream.finish(ack_timeout=5)
        await eventually(lambda: client.node_id in server.heard)
    finally:
        proxy.close()
