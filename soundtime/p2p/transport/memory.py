"""An in-memory network of transports in one process: the stream semantics of the iroh transport, no sockets.

Protocol logic runs on it unchanged (real frames, real codec, real handlers), so scenarios between several nodes
take milliseconds. What it keeps from QUIC and our iroh transport: one pooled outgoing connection per peer,
admission of incoming connections, requests only on the requester's own connections (a stream opened on an
accepted connection is refused), per-stream flow control, FIN and acknowledgement (data in the peer's buffer
counts as acknowledged), STOP_SENDING and RESET_STREAM codes (a reset discards unread data), deadlines on every
operation (a missed one aborts the stream with ``StreamCode.TIMEOUT``), connection close codes and reasons, the
lost-connection hook and heartbeats. What it leaves out: handshakes, idle timeouts, connection and stream caps.

Faults for tests: :meth:`MemoryNetwork.cut` makes a node vanish (its connections are lost, it cannot be dialled)
until :meth:`MemoryNetwork.heal`; :meth:`MemoryNetwork.lose` loses the streams a rule picks (a page of a catalog
push, say) before the receiver sees them.
"""

# ruff: noqa: ASYNC109 - deadlines are parameters, as in the iroh transport

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from soundtime.kit import metrics
from soundtime.kit.jobs import Jobs
from soundtime.p2p.transport.addresses import PeerAddress, node_id_of_secret, ticket_of
from soundtime.p2p.transport.base import Callbacks, ConnectionTable, StreamBase, run_handler
from soundtime.p2p.transport.errors import (
    CloseCode,
    ConnectFailed,
    ConnectionClosed,
    ConnectionLost,
    FrameTooLarge,
    StreamCode,
    StreamError,
    StreamTimeout,
    TransportError,
)

log = logging.getLogger("soundtime.p2p.transport")

#: ``rule(sender, receiver, first_write)``: whether the network loses a stream (see :meth:`MemoryNetwork.lose`).
LossRule = Callable[[str, str, bytes], bool]
#: Bytes a writer may have in flight on one stream before it waits for the reader (flow control).
WINDOW = 1 << 20
PORT = 11204


@dataclass
class _Pipe:
    """One direction of a stream: bytes written and not yet read, FIN, the writer's reset, the reader's stop."""

    buffer: bytearray = field(default_factory=bytearray)
    fin: bool = False
    reset: int | None = None
    stopped: int | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


def _left(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


class MemoryStream(StreamBase):
    """One end of an in-memory bidirectional stream."""

    def __init__(self, connection: MemoryConnection, send: _Pipe, recv: _Pipe) -> None:
        self.connection = connection
        self._send = send
        self._recv = recv
        self._send_state = "open"  # open -> finished, or reset
        self._recv_state = "open"  # open -> eof, or stopped (by us) / failed
        self._peer_end: MemoryStream | None = None  # set until the peer has been told about the stream

    def _announce(self, first: memoryview | None = None) -> None:
        """As over QUIC, a stream exists for the peer once its first frame arrives: hand it over now (unless the
        network loses it: see :meth:`MemoryNetwork.lose`)."""
        theirs, self._peer_end = self._peer_end, None
        if theirs is None:
            return
        owner = self.connection._owner
        if owner._network._loses(owner.node_id, self.connection.node_id, first):
            theirs._refuse(StreamCode.INTERNAL)
            return
        if self.connection.outgoing:
            self.connection.peer_owner()._serve(theirs.connection, theirs)
        else:  # requests travel on the requester's own connection (spec §2): the peer refuses this one
            theirs._refuse()

    @property
    def node_id(self) -> str:
        """The peer's node id."""
        return self.connection.node_id

    # --- reading

    async def read_exact(self, n: int, timeout: float) -> bytes:
        """Exactly ``n`` bytes within ``timeout`` seconds; StreamError if the stream ends or is reset first."""
        if n == 0:
            return b""
        self._check_readable()
        return await self._read_until(n, n, timeout, f"reading {n} bytes")

    async def read_chunk(self, max_bytes: int, stall_timeout: float) -> bytes:
        """Up to ``max_bytes`` as they arrive; b"" only at a clean end; StreamTimeout after a stall."""
        if self._recv_state == "eof":
            return b""
        self._check_readable()
        deadline = asyncio.get_running_loop().time() + stall_timeout
        while not self._recv.buffer:
            self._raise_if_broken("reading")
            if self._recv.fin:
                self._recv_state = "eof"
                return b""
            await self._wait(self._recv, deadline, "reading")
        return self._take(min(max(1, max_bytes), len(self._recv.buffer)))

    async def read_to_end(self, limit: int, timeout: float) -> bytes:
        """Everything up to the peer's FIN, at most ``limit`` bytes (FrameTooLarge beyond)."""
        if self._recv_state == "eof":
            return b""
        self._check_readable()
        return await self._read_until(None, limit, timeout, "reading to the end")

    async def _read_until(self, n: int | None, limit: int, timeout: float, what: str) -> bytes:
        """``n`` bytes (an early FIN is an error), or everything up to the FIN when ``n`` is None."""
        deadline = asyncio.get_running_loop().time() + timeout
        received = bytearray()
        while True:
            if self._recv.buffer:  # consumed as it comes, so the writer's window opens again (as over QUIC)
                want = len(self._recv.buffer) if n is None else n - len(received)
                received += self._take(min(want, len(self._recv.buffer)))
            if len(received) == n:
                return bytes(received)
            if len(received) > limit:
                await self.abort(StreamCode.TOO_LARGE)
                raise FrameTooLarge(None, limit)
            self._raise_if_broken(what)
            if self._recv.fin:
                if n is None:
                    self._recv_state = "eof"
                    return bytes(received)
                self._recv_state = "failed"
                raise StreamError(f"{what}: the stream ended after {len(received)} bytes")
            await self._wait(self._recv, deadline, what)

    # --- writing

    async def write(self, data: bytes, timeout: float) -> None:
        """Write all of ``data`` within ``timeout`` seconds (waits while the reader is a window behind)."""
        if self._send_state != "open":
            raise StreamError(f"cannot write: the send side is already {self._send_state}")
        deadline = asyncio.get_running_loop().time() + timeout
        view = memoryview(bytes(data))
        metrics.bytes_sent(len(view))
        self._announce(view)
        while True:
            self._raise_if_send_broken("writing")
            room = WINDOW - len(self._send.buffer)
            if room > 0 and view:
                self._send.buffer += view[:room]
                view = view[room:]
                self._send.notify()
            if not view:
                await asyncio.sleep(0)  # a write is a scheduling point, as it is over a socket
                return
            await self._wait(self._send, deadline, "writing")

    async def finish(self, ack_timeout: float | None) -> int | None:
        """Send FIN; data in the peer's buffer is acknowledged, so this returns at once: None, or the peer's
        STOP_SENDING code if it stopped reading first."""
        if self._send_state == "reset":
            raise StreamError("cannot finish: the stream was reset")
        self._raise_if_send_broken("finishing", stop_is_error=False)
        if self._send_state == "open":
            self._send.fin = True
            self._send_state = "finished"
            self._send.notify()
            self._announce()
        await asyncio.sleep(0)
        return self._send.stopped

    # --- ending

    async def reset(self, code: int = StreamCode.INTERNAL) -> None:
        """Abandon the send side (RESET_STREAM with ``code``); unread data is discarded. Never raises."""
        if self._send_state == "reset":
            return
        self._send_state = "reset"
        if not self._send.fin:  # after FIN everything is acknowledged: a reset changes nothing for the reader
            self._send.reset = int(code)
            self._send.buffer.clear()
        self._send.notify()

    async def stop(self, code: int = StreamCode.DONE) -> None:
        """Stop reading (STOP_SENDING with ``code``). Never raises."""
        if self._recv_state != "open":
            return
        self._recv_state = "stopped"
        if self._recv.stopped is None:
            self._recv.stopped = int(code)
        self._recv.buffer.clear()
        self._recv.notify()

    def _refuse(self, code: int = StreamCode.REFUSED) -> None:
        """Stop reading and reset, with ``code`` (synchronously: nothing to wait for in memory)."""
        self._recv_state = "stopped"
        self._recv.stopped = int(code)
        self._recv.buffer.clear()
        self._recv.notify()
        self._send_state = "reset"
        self._send.reset = int(code)
        self._send.notify()

    async def _settle(self) -> None:
        """After a handler: FIN if needed, stop reading what is left."""
        if self._send_state == "open" and self._send.stopped is None and not self.connection.is_closed:
            await self.finish(None)
        await self.stop(StreamCode.DONE)

    # --- internals

    def _take(self, n: int) -> bytes:
        data = bytes(self._recv.buffer[:n])
        del self._recv.buffer[:n]
        self._recv.notify()  # room for the writer
        metrics.bytes_received(len(data))
        return data

    def _check_readable(self) -> None:
        if self._recv_state == "eof":
            raise StreamError("the stream already ended")
        if self._recv_state != "open":
            raise StreamError(f"cannot read: the receive side is {self._recv_state}")

    def _raise_if_broken(self, what: str) -> None:
        if self._recv.reset is not None:
            self._recv_state = "failed"
            raise StreamError(f"{what}: the peer reset the stream (code {self._recv.reset})", code=self._recv.reset)
        lost = self.connection._failure
        if lost is not None and not self._recv.buffer:
            self._recv_state = self._send_state = "failed"
            raise self.connection._lost(what)

    def _raise_if_send_broken(self, what: str, *, stop_is_error: bool = True) -> None:
        if self.connection._failure is not None:
            self._send_state = "reset"
            raise self.connection._lost(what)
        if stop_is_error and self._send.stopped is not None:
            self._send_state = "reset"
            code = self._send.stopped
            raise StreamError(f"{what}: the peer stopped reading (code {code})", code=code)

    async def _wait(self, pipe: _Pipe, deadline: float, what: str) -> None:
        changed = pipe.changed
        lost = self.connection._closed
        waiters = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(lost.wait())]
        try:
            done, _ = await asyncio.wait(waiters, timeout=_left(deadline), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if not done:
            await self.abort(StreamCode.TIMEOUT)
            raise StreamTimeout(f"{what}: no progress within the deadline", code=StreamCode.TIMEOUT)


class MemoryConnection:
    """One end of an in-memory connection."""

    def __init__(self, owner: MemoryTransport, node_id: str, *, outgoing: bool, remote_address: str) -> None:
        self._owner = owner
        self.node_id = node_id
        self.outgoing = outgoing
        self._remote_address = remote_address
        self.peer: MemoryConnection | None = None
        self._failure: ConnectionClosed | None = None
        self._closed = asyncio.Event()

    def __repr__(self) -> str:
        direction = "to" if self.outgoing else "from"
        return f"<MemoryConnection {direction} {self.node_id[:16]}{' closed' if self.is_closed else ''}>"

    @property
    def is_closed(self) -> bool:
        """Whether the connection is closed (by either side)."""
        return self._failure is not None

    @property
    def close_error(self) -> ConnectionClosed | None:
        """Why the connection closed, once it has."""
        return self._failure

    async def open_stream(self, timeout: float = 10.0) -> MemoryStream:
        """Open a stream; the peer serves it (or refuses it, on a connection it opened itself)."""
        if self._failure is not None:
            raise self._lost("opening a stream")
        assert self.peer is not None
        forth, back = _Pipe(), _Pipe()
        ours = MemoryStream(self, forth, back)
        ours._peer_end = MemoryStream(self.peer, back, forth)  # the peer learns of it with the first bytes or FIN
        await asyncio.sleep(0)
        return ours

    def close(self, code: CloseCode = CloseCode.NORMAL, reason: bytes = b"") -> None:
        """Close the connection with our code and reason (undelivered data is dropped)."""
        if self._failure is not None:
            return
        text = reason.decode(errors="replace")
        ending = f"{text} (code {int(code)})"
        self._end(ConnectionClosed(f"closed by us: {ending}", code=int(code), reason=text), local_code=code)
        if self.peer is not None:
            self.peer._end(ConnectionClosed(f"closed by peer: {ending}", code=int(code), reason=text))

    async def wait_closed(self) -> ConnectionClosed:
        """Wait until the connection is closed; returns why."""
        await self._closed.wait()
        assert self._failure is not None
        return self._failure

    def remote_addresses(self) -> list[str]:
        """The peer's address on the network."""
        return [self._remote_address]

    def peer_owner(self) -> MemoryTransport:
        """The transport at the other end."""
        assert self.peer is not None
        return self.peer._owner

    def _lost(self, what: str) -> ConnectionLost:
        failure = self._failure or ConnectionClosed("connection lost")
        return ConnectionLost(f"{what} with {self.node_id[:16]}: {failure}", code=failure.code, reason=failure.reason)

    def _end(self, failure: ConnectionClosed, *, local_code: CloseCode | None = None) -> None:
        if self._failure is not None:
            return
        self._failure = failure
        self._closed.set()
        self._owner._ended(self, local_code)


class MemoryTransport(ConnectionTable["MemoryConnection"]):
    """A node's endpoint on a :class:`MemoryNetwork`."""

    def __init__(
        self,
        network: MemoryNetwork,
        node_id: str,
        address: str,
        *,
        callbacks: Callbacks,
        jobs: Jobs,
        heartbeat_interval: float,
    ) -> None:
        self._network = network
        self.node_id = node_id
        self._address = address
        self._callbacks = callbacks
        self._jobs = jobs
        self._heartbeat_interval = heartbeat_interval
        super().__init__()

    # --- identity and addresses

    def address(self) -> PeerAddress:
        """Our address on the network."""
        return PeerAddress(self.node_id, (self._address,))

    def local_address(self) -> PeerAddress:
        """The same as :meth:`address` (the network has one address per node)."""
        return self.address()

    def ticket(self) -> str:
        """An endpoint ticket carrying :meth:`address`."""
        return ticket_of(self.address())

    def bound_ports(self) -> list[int]:
        """The port of our address."""
        return [PORT]

    # --- connections

    async def connect(self, addr: PeerAddress, timeout: float = 10.0) -> MemoryConnection:
        """Our open connection to ``addr.node_id``; the target must be up and reachable at one of the addresses."""
        if self._closing:
            raise ConnectFailed("the transport is closed")
        if addr.node_id == self.node_id:
            raise ConnectFailed("cannot connect to ourselves")
        pooled = self._outgoing.get(addr.node_id)
        if pooled is not None and not pooled.is_closed:
            return pooled
        target = self._network._reachable(self.node_id, addr)
        if target is None:
            raise ConnectFailed(f"no answer from {addr.node_id[:16]} within {timeout:g} s")
        ours = MemoryConnection(self, addr.node_id, outgoing=True, remote_address=target._address)
        theirs = MemoryConnection(target, self.node_id, outgoing=False, remote_address=self._address)
        ours.peer, theirs.peer = theirs, ours
        self._outgoing[addr.node_id] = ours
        target._incoming.setdefault(self.node_id, set()).add(theirs)
        await target._admit(theirs)
        if self._callbacks.heartbeat_frame is not None:
            self._jobs.spawn(self._keep_alive(ours), f"heartbeat {addr.node_id[:16]}")
        return ours

    async def close(self) -> None:
        """Close every connection (CloseCode.SHUTDOWN), stop every task, leave the network. Idempotent."""
        if self._closing:
            return
        self._closing = True
        for conn in self.connections():
            conn.close(CloseCode.SHUTDOWN, b"shutdown")
        await self._jobs.close()
        self._network._leave(self)

    # --- internals

    async def _admit(self, conn: MemoryConnection) -> None:
        try:
            admitted = await self._callbacks.admit(conn.node_id)
        except Exception:
            log.exception("the admission check for %s failed", conn.node_id[:16])
            conn.close(CloseCode.INTERNAL, b"internal error")
            return
        if not admitted or self._closing:
            conn.close(CloseCode.BLOCKED, b"blocked")

    def _serve(self, conn: MemoryConnection, stream: MemoryStream) -> None:
        if self._closing:
            self._jobs.spawn(stream.abort(StreamCode.REFUSED), "refuse a stream")
            return
        self._jobs.spawn(self._serve_stream(conn, stream), f"stream from {conn.node_id[:16]}")

    async def _serve_stream(self, conn: MemoryConnection, stream: MemoryStream) -> None:
        if await run_handler(self._callbacks.on_stream, conn, stream):
            await stream._settle()

    async def _keep_alive(self, conn: MemoryConnection) -> None:
        frame_of = self._callbacks.heartbeat_frame
        assert frame_of is not None
        while not conn.is_closed:
            await asyncio.sleep(self._heartbeat_interval)
            if conn.is_closed:
                return
            try:
                stream = await conn.open_stream()
                await stream.write(frame_of(), timeout=self._heartbeat_interval)
                await stream.finish(None)
                await stream.stop(StreamCode.DONE)
            except ConnectionClosed:
                return
            except TransportError as exc:
                log.debug("heartbeat to %s failed: %s", conn.node_id[:16], exc)

    def _ended(self, conn: MemoryConnection, local_code: CloseCode | None) -> None:
        self._forget(conn)
        lost = local_code is None or local_code == CloseCode.HEARTBEAT_TIMEOUT
        hook = self._callbacks.on_connection_lost
        if conn.outgoing and lost and hook is not None and not self._closing and conn.node_id not in self._outgoing:
            self._jobs.spawn(hook(conn.node_id), f"connection to {conn.node_id[:16]} lost")


class MemoryNetwork:
    """Transports of one process joined by an in-memory network; each gets an address ``10.77.x.y:11204``."""

    def __init__(self, *, heartbeat_interval: float = 5.0) -> None:
        self.heartbeat_interval = heartbeat_interval
        self._nodes: dict[str, MemoryTransport] = {}
        self._cut: set[str] = set()
        self._losses: list[LossRule] = []
        self._count = 0

    async def start(self, secret_key: bytes, callbacks: Callbacks, jobs: Jobs | None = None) -> MemoryTransport:
        """Join the network as the node of ``secret_key`` (a :data:`StartTransport`)."""
        node_id = node_id_of_secret(secret_key)
        if node_id in self._nodes:
            raise TransportError(f"node {node_id[:16]} is already on the network")
        self._count += 1
        address = f"10.77.{self._count // 250}.{self._count % 250 + 1}:{PORT}"
        group = jobs.group("transport", expected=()) if jobs is not None else Jobs("p2p memory transport")
        transport = MemoryTransport(
            self, node_id, address, callbacks=callbacks, jobs=group, heartbeat_interval=self.heartbeat_interval
        )
        self._nodes[node_id] = transport
        return transport

    def cut(self, node_id: str) -> None:
        """The node vanishes: every connection with it is lost (no close code) and it cannot be dialled."""
        self._cut.add(node_id)
        for transport in list(self._nodes.values()):
            for conn in transport.connections():
                if node_id in (conn.node_id, transport.node_id):
                    conn._end(ConnectionClosed("connection lost"))

    def heal(self, node_id: str) -> None:
        """The node is reachable again."""
        self._cut.discard(node_id)

    def lose(self, rule: LossRule) -> Callable[[], None]:
        """Lose the streams for which ``rule(sender, receiver, first_write)`` is true: the receiver never serves
        one, and the sender finds it stopped and reset with ``StreamCode.INTERNAL`` (as when the peer's handler
        dies). ``first_write`` is what the sender's first write carried (empty for a bare FIN). Returns a function
        that removes the rule."""
        self._losses.append(rule)
        return lambda: self._losses.remove(rule)

    def _loses(self, sender: str, receiver: str, first: memoryview | None) -> bool:
        data = b"" if first is None or not self._losses else bytes(first)
        return any(rule(sender, receiver, data) for rule in self._losses)

    def _reachable(self, dialer: str, addr: PeerAddress) -> MemoryTransport | None:
        target = self._nodes.get(addr.node_id)
        if target is None or target._closing or {dialer, addr.node_id} & self._cut:
            return None
        return target if target._address in addr.direct_addresses else None

    def _leave(self, transport: MemoryTransport) -> None:
        if self._nodes.get(transport.node_id) is transport:
            del self._nodes[transport.node_id]
