"""The transport interface everything above the transport is written against (iroh and in-memory implement it).

A transport carries ``soundtime/p2p/1`` streams between node ids: bidirectional streams with deadlines on every
operation, FIN and acknowledgement, reset and stop codes, connections closed with a code and a reason.
"""

# ruff: noqa: ASYNC109 - deadlines are parameters: a caller's asyncio.timeout would cancel a bare read (note #4)

from __future__ import annotations

import asyncio
import logging
import struct
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from soundtime.p2p.transport.errors import CloseCode, ConnectionClosed, FrameTooLarge, StreamCode, TransportError

log = logging.getLogger("soundtime.p2p.transport")

if TYPE_CHECKING:
    from soundtime.kit.jobs import Jobs
    from soundtime.p2p.transport.addresses import PeerAddress


class Stream(Protocol):
    """One bidirectional stream. Not for concurrent use of the same direction by two tasks."""

    @property
    def node_id(self) -> str:
        """The peer's node id."""
        ...

    async def read_exact(self, n: int, timeout: float) -> bytes:
        """Exactly ``n`` bytes within ``timeout`` seconds; StreamError if the stream ends or is reset first."""
        ...

    async def read_frame(self, limit: int, timeout: float) -> bytes:
        """One frame body (4-byte big-endian length, then the body); FrameTooLarge before reading a long body."""
        ...

    async def read_chunk(self, max_bytes: int, stall_timeout: float) -> bytes:
        """Up to ``max_bytes`` as they arrive; b"" only at a clean end; StreamTimeout after a stall."""
        ...

    async def read_to_end(self, limit: int, timeout: float) -> bytes:
        """Everything up to the peer's FIN, at most ``limit`` bytes (FrameTooLarge beyond)."""
        ...

    async def write(self, data: bytes, timeout: float) -> None:
        """Write all of ``data`` within ``timeout`` seconds."""
        ...

    async def write_frame(self, body: bytes, timeout: float) -> None:
        """Write one frame: the 4-byte big-endian length of ``body``, then ``body``."""
        ...

    async def finish(self, ack_timeout: float | None) -> int | None:
        """Send FIN; unless ``ack_timeout`` is None, wait for the peer to acknowledge all data.

        Returns None when everything was acknowledged, or the peer's STOP_SENDING code if it stopped reading first.
        """
        ...

    async def reset(self, code: int = StreamCode.INTERNAL) -> None:
        """Abandon the send side (RESET_STREAM with ``code``); best-effort, never raises."""
        ...

    async def stop(self, code: int = StreamCode.DONE) -> None:
        """Stop reading (STOP_SENDING with ``code``); best-effort, never raises."""
        ...

    async def abort(self, code: int = StreamCode.INTERNAL) -> None:
        """Stop reading and reset the send side."""
        ...


class StreamBase(ABC):
    """What both stream implementations build on their primitives: frames, abort, ``async with``."""

    _send_state: str

    @abstractmethod
    async def read_exact(self, n: int, timeout: float) -> bytes:
        """Exactly ``n`` bytes."""

    @abstractmethod
    async def write(self, data: bytes, timeout: float) -> None:
        """Write all of ``data``."""

    @abstractmethod
    async def finish(self, ack_timeout: float | None) -> int | None:
        """Send FIN."""

    @abstractmethod
    async def reset(self, code: int = StreamCode.INTERNAL) -> None:
        """Abandon the send side."""

    @abstractmethod
    async def stop(self, code: int = StreamCode.DONE) -> None:
        """Stop reading."""

    async def read_frame(self, limit: int, timeout: float) -> bytes:
        """One frame body (4-byte big-endian length, then the body); FrameTooLarge before reading a long body."""
        deadline = asyncio.get_running_loop().time() + timeout
        (length,) = struct.unpack(">I", await self.read_exact(4, timeout))
        if length > limit:
            await self.abort(StreamCode.TOO_LARGE)
            raise FrameTooLarge(length, limit)
        return await self.read_exact(length, max(0.0, deadline - asyncio.get_running_loop().time()))

    async def write_frame(self, body: bytes, timeout: float) -> None:
        """Write one frame: the 4-byte big-endian length of ``body``, then ``body``."""
        await self.write(struct.pack(">I", len(body)) + body, timeout)

    async def abort(self, code: int = StreamCode.INTERNAL) -> None:
        """Stop reading and reset the send side."""
        await self.stop(code)
        await self.reset(code)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            await self.stop(StreamCode.DONE)
            if self._send_state == "open":
                await self.finish(None)
        else:
            await self.abort(StreamCode.INTERNAL)


class PeerConnection(Protocol):
    """One connection with a peer, opened by us (``outgoing``) or by the peer."""

    node_id: str
    outgoing: bool

    @property
    def is_closed(self) -> bool:
        """Whether the connection is closed (by either side) or closing."""
        ...

    async def open_stream(self, timeout: float = 10.0) -> Stream:
        """Open a new bidirectional stream."""
        ...

    def close(self, code: CloseCode = CloseCode.NORMAL, reason: bytes = b"") -> None:
        """Close the connection with our code and reason (undelivered data is dropped)."""
        ...

    async def wait_closed(self) -> ConnectionClosed:
        """Wait until the connection is closed; returns why."""
        ...

    def remote_addresses(self) -> list[str]:
        """The peer's ``ip:port`` addresses seen on this connection (selected path first)."""
        ...


StreamHandler = Callable[[PeerConnection, Stream], Coroutine[Any, Any, None]]
AdmitHook = Callable[[str], Awaitable[bool]]
ConnectionLostHook = Callable[[str], Coroutine[Any, Any, None]]


class Transport(Protocol):
    """An endpoint: serves the streams peers open, pools our outgoing connections by node id."""

    node_id: str

    def address(self) -> PeerAddress:
        """Our dialable address."""
        ...

    def local_address(self) -> PeerAddress:
        """Our address for nodes on the same host."""
        ...

    def ticket(self) -> str:
        """An endpoint ticket carrying :meth:`address`."""
        ...

    def bound_ports(self) -> list[int]:
        """The ports we listen on."""
        ...

    async def connect(self, addr: PeerAddress, timeout: float = 10.0) -> PeerConnection:
        """Our open outgoing connection to ``addr.node_id``, dialling it if there is none."""
        ...

    def connections(self, node_id: str | None = None) -> Sequence[PeerConnection]:
        """Open connections (both directions) with ``node_id``, or with everyone."""
        ...

    def close_peer(self, node_id: str, code: CloseCode = CloseCode.BLOCKED, reason: bytes = b"blocked") -> int:
        """Close every connection with ``node_id``; returns how many."""
        ...

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called."""
        ...

    async def close(self) -> None:
        """Close every connection and the endpoint. Idempotent."""
        ...


C = TypeVar("C", bound=PeerConnection)


class ConnectionTable(Generic[C]):
    """The connections of a transport: our pooled outgoing one per peer, and the incoming ones by peer."""

    def __init__(self) -> None:
        self._outgoing: dict[str, C] = {}
        self._incoming: dict[str, set[C]] = {}
        self._closing = False

    @property
    def is_closed(self) -> bool:
        """Whether the transport's ``close`` was called."""
        return self._closing

    def close_peer(self, node_id: str, code: CloseCode = CloseCode.BLOCKED, reason: bytes = b"blocked") -> int:
        """Close every connection with ``node_id`` (incoming and outgoing); returns how many."""
        conns = self.connections(node_id)
        for conn in conns:
            conn.close(code, reason)
            self._forget(conn)
        return len(conns)

    def connections(self, node_id: str | None = None) -> list[C]:
        """Open connections (both directions) with ``node_id``, or with everyone."""
        found = [conn for conn in self._outgoing.values() if node_id in (None, conn.node_id)]
        for peer, conns in self._incoming.items():
            if node_id in (None, peer):
                found.extend(conns)
        return [conn for conn in found if not conn.is_closed]

    def _forget(self, conn: C) -> None:
        """Take a closed connection out of the table."""
        if conn.outgoing:
            if self._outgoing.get(conn.node_id) is conn:
                del self._outgoing[conn.node_id]
            return
        conns = self._incoming.get(conn.node_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._incoming[conn.node_id]


async def run_handler(handler: StreamHandler, conn: PeerConnection, stream: Stream) -> bool:
    """Serve one stream; a failing handler resets its stream only (logged). True when it returned normally."""
    try:
        await handler(conn, stream)
    except TransportError as exc:
        log.debug("a stream from %s failed: %s", conn.node_id[:16], exc)
    except Exception:
        log.exception("the stream handler failed for a stream from %s", conn.node_id[:16])
    else:
        return True
    await stream.abort(StreamCode.INTERNAL)
    return False


@dataclass(frozen=True)
class Callbacks:
    """What a transport calls: a stream handler, the admission check, the lost-connection hook and the heartbeat."""

    on_stream: StreamHandler
    admit: AdmitHook
    on_connection_lost: ConnectionLostHook | None = None
    heartbeat_frame: Callable[[], bytes] | None = None


#: Starts a transport for a secret key (the node's identity) with its callbacks, its jobs under ``jobs``.
StartTransport = Callable[[bytes, Callbacks, "Jobs"], Awaitable[Transport]]
