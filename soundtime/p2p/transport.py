"""QUIC transport for ``soundtime/p2p/1`` over iroh: the only module of the project that imports ``iroh``.

Everything above this module sees ``bytes``, 64-hex node ids and the exception types defined here. The quirks of
the iroh 1.2.0 bindings (docs: shared/notes/iroh-python.md) are handled here:

- Sending: at import the generated per-byte copy loop of ``_UniffiRustBufferBuilder.write`` is replaced by one
  ``memmove`` (only while the installed method still has the loop; ``set_send_patch`` toggles it for benchmarks).
- Deadlines: every stream operation runs as an inner task that the caller waits for with a timeout. When the
  deadline passes, the in-flight FFI call is cancelled and the stream is aborted at once (STOP_SENDING and
  RESET_STREAM with ``StreamCode.TIMEOUT``), so a :class:`StreamTimeout` is final for that stream. Cancelling a
  read can drop a chunk the Rust side had just produced (note #4), but only of the stream being abandoned: no
  later read on it happens, and other streams are not touched. A watchdog calling ``stop()`` cannot replace the
  cancellation: ``RecvStream.stop()`` waits while a ``read()`` is in flight on the same stream.
- A peer's reset can surface as an empty read; an empty read is a clean end only if ``received_reset()`` says so.
- Served streams: the transport finishes the send side and waits for the peer's acknowledgement before a stream
  task ends, so a reply written just before the handler returns is delivered.
"""

# Timeouts are parameters on purpose (ASYNC109): a caller's asyncio.timeout would cancel a bare read (note #4);
# the stream methods enforce their deadline themselves and abort the stream when it passes.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import ctypes
import dis
import enum
import ipaddress
import logging
import re
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from iroh import iroh_ffi as _ffi

log = logging.getLogger(__name__)

T = TypeVar("T")
_C = TypeVar("_C", bound="ConnectionClosed")

ALPN = b"soundtime/p2p/1"

_U32_MAX = (1 << 32) - 1
_QUICK_TIMEOUT = 2.0  # best-effort control calls (stop, reset, received_reset)

# --- send-path patch (note #2) --------------------------------------------------------------------------------

_Builder = _ffi._UniffiRustBufferBuilder
_ORIGINAL_WRITE: Callable[[Any, Any], None] = _Builder.write
_WRITE = "write"


def _has_per_byte_loop(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    return "enumerate" in code.co_names and any(op.opname == "FOR_ITER" for op in dis.get_instructions(code))


def _memmove_write(builder: Any, value: Any) -> None:
    """One ``memmove`` into the reserved Rust buffer instead of one Python assignment per byte."""
    if type(value) is not bytes:
        if isinstance(value, bytearray) or (isinstance(value, memoryview) and value.ndim == 1 and value.itemsize == 1):
            value = bytes(value)
        else:
            _ORIGINAL_WRITE(builder, value)
            return
    size = len(value)
    with builder._reserve(size):
        if size:
            base = ctypes.cast(builder.rbuf.data, ctypes.c_void_p).value
            if base is None:
                raise MemoryError("the Rust buffer has no data pointer")
            ctypes.memmove(base + builder.rbuf.len, value, size)


_PATCHABLE = _has_per_byte_loop(_ORIGINAL_WRITE)


def set_send_patch(enabled: bool) -> bool:
    """Install (or remove) the fast send path; returns whether it is active afterwards."""
    setattr(_Builder, _WRITE, _memmove_write if enabled and _PATCHABLE else _ORIGINAL_WRITE)
    return send_patch_applied()


def send_patch_applied() -> bool:
    """Whether sends currently use the single-``memmove`` path."""
    return bool(getattr(_Builder, _WRITE) is _memmove_write)


set_send_patch(True)


# --- codes and errors -----------------------------------------------------------------------------------------


#: Incoming connections one node id may hold at once; a new one closes its oldest.
MAX_INCOMING_PER_PEER = 4


class CloseCode(enum.IntEnum):
    """Application codes of CONNECTION_CLOSE."""

    NORMAL = 0
    BLOCKED = 1  # spec §6: close(1, b"blocked")
    PROTOCOL_ERROR = 2
    SHUTDOWN = 3
    OVERLOADED = 4
    HEARTBEAT_TIMEOUT = 5
    IDLE = 6
    INTERNAL = 7


class StreamCode(enum.IntEnum):
    """Application codes of RESET_STREAM and STOP_SENDING."""

    DONE = 0
    PROTOCOL_ERROR = 1
    TOO_LARGE = 2
    TIMEOUT = 3
    INTERNAL = 4
    REFUSED = 5


class TransportError(Exception):
    """Base of every error of this module."""


class ConnectFailed(TransportError):
    """A peer could not be reached: no answer in time, refused, wrong identity, no usable address."""


class StreamError(TransportError):
    """A stream failed: reset or stopped by the peer, connection lost, or closed locally."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StreamTimeout(StreamError):
    """Our deadline passed; the stream has been aborted and must not be used again."""


class FrameTooLarge(StreamError):
    """The peer announced (or sent) more bytes than the caller's limit; the stream has been aborted."""

    def __init__(self, length: int | None, limit: int) -> None:
        shown = "more than" if length is None else f"{length} bytes,"
        super().__init__(f"the peer sent {shown} {limit} bytes allowed", code=StreamCode.TOO_LARGE)
        self.length = length
        self.limit = limit


class ConnectionClosed(TransportError):
    """The connection is closed; ``code`` and ``reason`` are the CONNECTION_CLOSE values when known."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ConnectionLost(StreamError, ConnectionClosed):
    """A stream operation failed because its whole connection closed (catchable as either parent)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        TransportError.__init__(self, message)
        self.code = code
        self.reason = reason


def _message(exc: BaseException) -> str:
    """The most specific line of an ``IrohError`` (``str()`` of one is empty, note #6)."""
    if isinstance(exc, _ffi.IrohError):
        lines = [line.strip() for line in exc.message().splitlines() if line.strip()]
        return lines[-1] if lines else exc.kind().name.lower()
    return str(exc) or type(exc).__name__


_CLOSE_TEXT = re.compile(r"closed by (?:peer|us): (?:(?P<reason>.*) \(code (?P<code>\d+)\)|(?P<bare>\d+))", re.S)


def _parse_close(text: str) -> tuple[int | None, str]:
    match = _CLOSE_TEXT.search(text)
    if match is None:
        return None, ""
    if match["bare"] is not None:
        return int(match["bare"]), ""
    return int(match["code"]), match["reason"]


# --- addresses ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerAddress:
    """How to dial a node: its id plus direct ``ip:port`` addresses and, with relays on, a relay URL."""

    node_id: str
    direct_addresses: tuple[str, ...] = ()
    relay_url: str | None = None


_HEX64 = re.compile(r"[0-9a-f]{64}")
_BRACKETED = re.compile(r"\[(?P<host>[^\]]+)\]:(?P<port>[0-9]+)")


def normalize_node_id(text: str) -> str:
    """Lower-case a node id and check it is a valid Ed25519 public key; ValueError otherwise."""
    node_id = text.strip().lower()
    if _HEX64.fullmatch(node_id) is None:
        raise ValueError(f"a node id is 64 hexadecimal characters, got {text!r}")
    try:
        _ffi.EndpointId.from_string(node_id)
    except _ffi.IrohError:
        raise ValueError(f"{node_id} is not a valid Ed25519 public key") from None
    return node_id


def parse_socket_address(text: str) -> str:
    """Validate ``ip:port`` / ``[ipv6]:port`` and return it in canonical form; ValueError otherwise."""
    bracketed = _BRACKETED.fullmatch(text)
    if bracketed is not None:
        host, port_text, version = bracketed["host"], bracketed["port"], 6
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"expected ip:port or [ipv6]:port, got {text!r}")
        version = 4
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address (host names are not accepted)") from None
    if ip.version != version:
        raise ValueError("only IPv6 addresses go in brackets" if version == 6 else "IPv6 addresses need brackets")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"the port in {text!r} must be a number from 1 to 65535")
    return f"[{ip}]:{int(port_text)}" if ip.version == 6 else f"{ip}:{int(port_text)}"


def parse_peer_address(text: str) -> PeerAddress:
    """Parse a node id, ``id@ip:port`` (``id@[ipv6]:port``) or an iroh endpoint ticket."""
    text = text.strip()
    if text.startswith("endpoint"):
        return _parse_ticket(text)
    node_part, at, address_part = text.partition("@")
    node_id = normalize_node_id(node_part)
    if not at:
        return PeerAddress(node_id)
    return PeerAddress(node_id, (parse_socket_address(address_part),))


def _parse_ticket(text: str) -> PeerAddress:
    try:
        addr = _ffi.EndpointTicket.from_string(text).endpoint_addr()
    except _ffi.IrohError as exc:
        raise ValueError(f"invalid endpoint ticket: {_message(exc)}") from None
    return PeerAddress(str(addr.id()), tuple(addr.direct_addresses()), addr.relay_url())


def _endpoint_addr(address: PeerAddress) -> _ffi.EndpointAddr:
    node = _ffi.EndpointId.from_string(address.node_id)
    return _ffi.EndpointAddr(node, address.relay_url, list(address.direct_addresses))


# --- streams --------------------------------------------------------------------------------------------------

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


def _consume(task: asyncio.Future[Any]) -> None:
    """Mark a finished inner task's exception as retrieved (we either re-raise it or no longer care)."""
    if not task.cancelled():
        task.exception()


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


async def _within(operation: Coroutine[Any, Any, T], timeout: float) -> T:
    """``operation`` with a deadline (TimeoutError after it is cancelled).

    Used instead of ``asyncio.wait_for``, which in Python 3.11 swallows a cancellation of the caller when the
    operation completes at the same moment (the caller then runs on as if never cancelled).
    """
    task = asyncio.ensure_future(operation)
    task.add_done_callback(_consume)
    try:
        done, _ = await asyncio.wait((task,), timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait((task,))
        raise TimeoutError
    return task.result()


async def _quietly(operation: Coroutine[Any, Any, Any]) -> None:
    """Run a best-effort control call (stop, reset): bounded in time, never raising."""
    try:
        await _within(operation, _QUICK_TIMEOUT)
    except (TimeoutError, _ffi.IrohError) as exc:
        log.debug("best-effort stream call failed: %s", _message(exc))


class Stream:
    """One bidirectional stream. Not for concurrent use of the same direction by two tasks."""

    def __init__(self, bi: _ffi.BiStream, connection: PeerConnection) -> None:
        self._send = bi.send()
        self._recv = bi.recv()
        self.connection = connection
        self._send_op: asyncio.Task[Any] | None = None
        self._recv_op: asyncio.Task[Any] | None = None
        self._send_state = "open"  # open -> finished -> acked, or reset
        self._recv_state = "open"  # open -> eof, or stopped (by us) / failed (reset, lost)
        self._stop_code: int | None = None

    @property
    def node_id(self) -> str:
        """The peer's node id."""
        return self.connection.node_id

    @property
    def send_closed(self) -> bool:
        """Whether our side finished or reset its send side."""
        return self._send_state != "open"

    # reading

    async def read_exact(self, n: int, timeout: float) -> bytes:
        """Exactly ``n`` bytes within ``timeout`` seconds; StreamError if the stream ends or is reset first."""
        if n == 0:
            return b""
        self._check_readable()
        return cast(bytes, await self._run(self._recv.read_exact(n), timeout, f"reading {n} bytes", send=False))

    async def read_frame(self, limit: int, timeout: float) -> bytes:
        """One frame body (4-byte big-endian length, then the body); FrameTooLarge before reading a long body."""
        deadline = asyncio.get_running_loop().time() + timeout
        (length,) = struct.unpack(">I", await self.read_exact(4, timeout))
        if length > limit:
            await self.abort(StreamCode.TOO_LARGE)
            raise FrameTooLarge(length, limit)
        return await self.read_exact(length, _remaining(deadline))

    async def read_chunk(self, max_bytes: int, stall_timeout: float) -> bytes:
        """Up to ``max_bytes`` as they arrive; b"" only at a clean end; StreamTimeout after a stall."""
        if self._recv_state == "eof":
            return b""
        self._check_readable()
        size = min(max(1, max_bytes), _U32_MAX)
        data = cast(bytes, await self._run(self._recv.read(size), stall_timeout, "reading", send=False))
        if data:
            return data
        code = await self._peer_reset_code()  # note #7: a reset can look like an end
        if code is not None:
            self._recv_state = "failed"
            raise StreamError(f"the peer reset the stream (code {code})", code=code)
        self._recv_state = "eof"
        return b""

    async def read_to_end(self, limit: int, timeout: float) -> bytes:
        """Everything up to the peer's FIN, at most ``limit`` bytes (FrameTooLarge beyond)."""
        if self._recv_state == "eof":
            return b""
        self._check_readable()
        limit = min(limit, _U32_MAX)
        data = await self._run(self._recv.read_to_end(limit), timeout, "reading to the end", send=False, limit=limit)
        self._recv_state = "eof"
        return data

    # writing

    async def write(self, data: bytes, timeout: float) -> None:
        """Write all of ``data`` within ``timeout`` seconds (flow control may make it wait for the peer)."""
        if self._send_state != "open":
            raise StreamError(f"cannot write: the send side is already {self._send_state}")
        payload = data if type(data) is bytes else bytes(data)
        await self._run(self._send.write_all(payload), timeout, "writing", send=True)

    async def write_frame(self, body: bytes, timeout: float) -> None:
        """Write one frame: the 4-byte big-endian length of ``body``, then ``body``."""
        await self.write(struct.pack(">I", len(body)) + body, timeout)

    async def finish(self, ack_timeout: float | None) -> int | None:
        """Send FIN; unless ``ack_timeout`` is None, wait for the peer to acknowledge all data (note #3).

        Returns None when everything was acknowledged, or the peer's STOP_SENDING code if it stopped reading
        first. StreamTimeout (stream reset) when no acknowledgement arrives in time.
        """
        if self._send_state == "reset":
            raise StreamError("cannot finish: the stream was reset")
        if self._send_state == "open":
            await self._run(self._send.finish(), ack_timeout or _QUICK_TIMEOUT, "finishing", send=True)
            self._send_state = "finished"
        if ack_timeout is None or self._send_state == "acked":
            return self._stop_code
        code = await self._run(self._send.stopped(), ack_timeout, "waiting for the acknowledgement", send=True)
        self._send_state = "acked"
        self._stop_code = code
        return self._stop_code

    # ending

    async def reset(self, code: int = StreamCode.INTERNAL) -> None:
        """Abandon the send side (RESET_STREAM with ``code``); best-effort, never raises."""
        if self._send_state in ("reset", "acked"):
            return
        self._send_state = "reset"
        await self._cancel_op(send=True)
        await _quietly(self._send.reset(int(code)))

    async def stop(self, code: int = StreamCode.DONE) -> None:
        """Stop reading (STOP_SENDING with ``code``); best-effort, never raises."""
        if self._recv_state != "open":
            return
        self._recv_state = "stopped"
        await self._cancel_op(send=False)
        await _quietly(self._recv.stop(int(code)))

    async def abort(self, code: int = StreamCode.INTERNAL) -> None:
        """Stop reading and reset the send side."""
        await self.stop(code)
        await self.reset(code)

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            await self.stop(StreamCode.DONE)
            if self._send_state == "open":
                await self.finish(None)
        else:
            await self.abort(StreamCode.INTERNAL)

    async def _settle(self, ack_timeout: float) -> None:
        """After a handler: FIN if needed, wait for the acknowledgement, stop reading what is left."""
        try:
            if self._send_state in ("open", "finished"):
                await self.finish(ack_timeout)
        except TransportError as exc:
            log.debug("finishing a stream of %s failed: %s", self.node_id[:16], exc)
        await self.stop(StreamCode.DONE)

    # internals

    def _check_readable(self) -> None:
        if self._recv_state == "eof":
            raise StreamError("the stream already ended")
        if self._recv_state != "open":
            raise StreamError(f"cannot read: the receive side is {self._recv_state}")

    async def _run(
        self, operation: Coroutine[Any, Any, T], timeout: float, what: str, *, send: bool, limit: int = 0
    ) -> T:
        task = asyncio.ensure_future(operation)
        task.add_done_callback(_consume)
        self._set_op(send, task)
        try:
            done, _ = await asyncio.wait((task,), timeout=timeout)
        except asyncio.CancelledError:
            task.cancel()
            self.connection._spawn(self.abort(StreamCode.INTERNAL))
            raise
        finally:
            self._set_op(send, None, only_if=task)
        if not done:
            task.cancel()
            await asyncio.wait((task,))
            await self.abort(StreamCode.TIMEOUT)
            raise StreamTimeout(f"{what}: no progress within {timeout:g} s", code=StreamCode.TIMEOUT)
        if task.cancelled():
            raise StreamError(f"{what}: the stream was closed locally")
        exc = task.exception()
        if exc is None:
            return task.result()
        raise await self._translate(exc, what, send=send, limit=limit) from None

    def _set_op(self, send: bool, task: asyncio.Task[Any] | None, *, only_if: asyncio.Task[Any] | None = None) -> None:
        current = self._send_op if send else self._recv_op
        if only_if is not None and current is not only_if:
            return
        if send:
            self._send_op = task
        else:
            self._recv_op = task

    async def _cancel_op(self, *, send: bool) -> None:
        task = self._send_op if send else self._recv_op
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait((task,))

    async def _translate(self, exc: BaseException, what: str, *, send: bool, limit: int) -> BaseException:
        if not isinstance(exc, _ffi.IrohError):
            return exc
        text = _message(exc)
        if "ConnectionLost" in text or exc.kind() in (_ffi.IrohErrorKind.CONNECTION, _ffi.IrohErrorKind.CLOSED):
            self._send_state, self._recv_state = "reset", "failed"
            return self.connection._lost(what)
        error = await self._stream_error(text, what, limit)
        if send and self._send_state != "acked":
            self._send_state = "reset"
        elif not send and self._recv_state == "open":
            self._recv_state = "failed"
        return error

    async def _stream_error(self, text: str, what: str, limit: int) -> StreamError:
        code_match = re.search(r"(Reset|Stopped)\((\d+)\)", text)
        if code_match is not None:
            code = int(code_match[2])
            verb = "reset the stream" if code_match[1] == "Reset" else "stopped reading"
            return StreamError(f"{what}: the peer {verb} (code {code})", code=code)
        if text == "TooLong":
            await self.abort(StreamCode.TOO_LARGE)
            return FrameTooLarge(None, limit)
        early = re.search(r"FinishedEarly\((\d+)\)", text)
        if early is not None:
            reset = await self._peer_reset_code()
            if reset is not None:
                return StreamError(f"{what}: the peer reset the stream (code {reset})", code=reset)
            return StreamError(f"{what}: the stream ended after {early[1]} bytes")
        return StreamError(f"{what}: {text}")

    async def _peer_reset_code(self) -> int | None:
        try:
            return await _within(self._recv.received_reset(), _QUICK_TIMEOUT)
        except (TimeoutError, _ffi.IrohError):
            return None


# --- connections ----------------------------------------------------------------------------------------------


class PeerConnection:
    """One QUIC connection with a peer, opened by us (``outgoing``) or by the peer."""

    def __init__(self, conn: _ffi.Connection, node_id: str, *, outgoing: bool, spawn: Spawn) -> None:
        self._conn = conn
        self.node_id = node_id
        self.outgoing = outgoing
        self._spawn = spawn
        self._closed = asyncio.Event()
        self._close_error: ConnectionClosed | None = None
        self._final_text: str | None = None
        self._local_close: tuple[CloseCode, bytes] | None = None
        self.last_used = time.monotonic()

    def __repr__(self) -> str:
        direction = "to" if self.outgoing else "from"
        return f"<PeerConnection {direction} {self.node_id[:16]}{' closed' if self.is_closed else ''}>"

    @property
    def is_closed(self) -> bool:
        """Whether the connection is closed (by either side) or closing."""
        return self._local_close is not None or self._closed.is_set() or self._conn.close_reason() is not None

    @property
    def close_error(self) -> ConnectionClosed | None:
        """Why the connection closed, once it has."""
        return self._close_error

    async def open_stream(self, timeout: float = 10.0) -> Stream:
        """Open a new bidirectional stream (waits while the peer's stream limit is reached)."""
        self.last_used = time.monotonic()
        return await self._open(timeout)

    def close(self, code: CloseCode = CloseCode.NORMAL, reason: bytes = b"") -> None:
        """Close the connection with our code and reason (undelivered data is dropped)."""
        if self._local_close is not None:
            return
        self._local_close = (code, reason)
        try:
            self._conn.close(int(code), reason)
        except _ffi.IrohError as exc:
            log.debug("closing the connection with %s failed: %s", self.node_id[:16], _message(exc))

    async def wait_closed(self) -> ConnectionClosed:
        """Wait until the connection is closed; returns why."""
        await self._closed.wait()
        assert self._close_error is not None
        return self._close_error

    def rtt_ms(self) -> int | None:
        """Current round-trip time estimate in milliseconds."""
        try:
            return self._conn.rtt()
        except _ffi.IrohError:
            return None

    def remote_addresses(self) -> list[str]:
        """The peer's ``ip:port`` addresses seen on this connection (selected path first)."""
        try:
            paths = self._conn.paths()
        except _ffi.IrohError:
            return []
        ordered = sorted((path for path in paths if path.is_ip), key=lambda path: not path.is_selected)
        return list(dict.fromkeys(path.remote_addr for path in ordered))

    async def _open(self, timeout: float) -> Stream:
        if self.is_closed:
            raise self._error(ConnectionClosed, "opening a stream")
        task = asyncio.ensure_future(self._conn.open_bi())
        task.add_done_callback(_consume)
        try:
            done, _ = await asyncio.wait((task,), timeout=timeout)
        except asyncio.CancelledError:
            self._discard_open(task)
            raise
        if not done:
            self._discard_open(task)
            raise StreamTimeout(f"no stream to {self.node_id[:16]} available within {timeout:g} s")
        if task.exception() is not None:
            raise self._error(ConnectionClosed, "opening a stream")
        return Stream(task.result(), self)

    def _discard_open(self, task: asyncio.Task[_ffi.BiStream]) -> None:
        """Cancel an ``open_bi``; a stream that was opened anyway is reset rather than left to finish empty."""

        def discard(done: asyncio.Future[_ffi.BiStream]) -> None:
            if not done.cancelled() and done.exception() is None:
                self._spawn(Stream(done.result(), self).abort(StreamCode.INTERNAL))

        task.add_done_callback(discard)
        task.cancel()

    def _rx_datagrams(self) -> int:
        try:
            return self._conn.stats().udp_rx_datagrams
        except _ffi.IrohError:
            return 0

    def _mark_closed(self, text: str) -> None:
        if not self._closed.is_set():
            self._final_text = self._close_text(text)
            self._close_error = self._error(ConnectionClosed, "connection", self._final_text)
            self._closed.set()

    def _lost(self, what: str) -> ConnectionLost:
        return self._error(ConnectionLost, what)

    def _error(self, kind: type[_C], what: str, text: str | None = None) -> _C:
        if text is None:
            text = self._close_text(self._conn_close_reason())
        code, reason = _parse_close(text)
        return kind(f"{what} with {self.node_id[:16]}: {text}", code=code, reason=reason)

    def _close_text(self, text: str | None) -> str:
        """The close description, with our own code and reason when we closed it."""
        if self._final_text is not None:
            return self._final_text
        if self._local_close is not None and (text is None or not text.startswith("closed by peer")):
            code, reason = self._local_close
            return f"closed by us: {reason.decode(errors='replace')} (code {int(code)})"
        return text or "connection lost"

    def _conn_close_reason(self) -> str | None:
        try:
            return self._conn.close_reason()
        except _ffi.IrohError:
            return None


# --- endpoint -------------------------------------------------------------------------------------------------

StreamHandler = Callable[[PeerConnection, Stream], Awaitable[None]]
AdmitHook = Callable[[str], Awaitable[bool]]
ConnectionLostHook = Callable[[str], Awaitable[None]]


class _BindPreset(_ffi.Preset):
    """Minimal (no lookup) or n0 (relays, DNS) baseline, then one ``bind_addr`` per address family (note #8)."""

    def __init__(self, addresses: list[str], relay: bool) -> None:
        self._addresses = addresses
        self._relay = relay

    def apply(self, builder: _ffi.EndpointBuilder) -> None:
        if self._relay:
            builder.apply_n0()
        else:
            builder.apply_minimal()
            builder.relay_mode(_ffi.RelayMode.disabled())
        for address in self._addresses:
            builder.bind_addr(address)


def _ipv6_available(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


async def _bind(secret_key: bytes, port: int, relay: bool, host_v4: str | None, host_v6: str | None) -> _ffi.Endpoint:
    addresses = [f"{host_v4}:{port}"] if host_v4 is not None else []
    if host_v6 is not None:
        addresses.append(f"[{host_v6}]:{port}")
    if not addresses:
        raise ValueError("at least one of bind_host_v4 and bind_host_v6 is needed")

    async def bind(selected: list[str]) -> _ffi.Endpoint:
        options = _ffi.EndpointOptions(preset=_BindPreset(selected, relay), secret_key=secret_key, alpns=[ALPN])
        return await _ffi.Endpoint.bind(options)

    try:
        return await bind(addresses)
    except _ffi.IrohError as exc:
        if host_v4 is not None and host_v6 is not None and not _ipv6_available(host_v6):
            log.warning("IPv6 is not available on this host; listening on IPv4 only")
            try:
                return await bind(addresses[:1])
            except _ffi.IrohError as again:
                raise TransportError(f"cannot listen on {addresses[0]}: {_message(again)}") from None
        raise TransportError(f"cannot listen on {', '.join(addresses)}: {_message(exc)}") from None


def _loopback(bound: str) -> str:
    host, _, port = bound.rpartition(":")
    if host == "0.0.0.0":  # noqa: S104 - a bound wildcard, not a bind request
        return f"127.0.0.1:{port}"
    if host == "[::]":
        return f"[::1]:{port}"
    return bound


@dataclass(frozen=True)
class _Settings:
    on_stream: StreamHandler
    admit: AdmitHook
    max_connections: int
    max_streams: int
    heartbeat_frame: Callable[[], bytes] | None
    heartbeat_interval: float
    heartbeat_timeout: float
    on_connection_lost: ConnectionLostHook | None
    idle_timeout: float
    handshake_timeout: float
    finish_timeout: float


class Transport:
    """One iroh endpoint: serves streams on connections peers open, pools our outgoing connections."""

    def __init__(self, endpoint: _ffi.Endpoint, settings: _Settings) -> None:
        self._ep = endpoint
        self._settings = settings
        self.node_id = str(endpoint.id())
        self._outgoing: dict[str, PeerConnection] = {}
        self._incoming: dict[str, set[PeerConnection]] = {}
        self._dials: dict[str, asyncio.Task[PeerConnection]] = {}
        self._handshakes = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._closed = asyncio.Event()

    @classmethod
    async def start(
        cls,
        *,
        secret_key: bytes,
        port: int,
        relay: bool,
        on_stream: StreamHandler,
        admit: AdmitHook,
        max_connections: int = 256,
        max_streams_per_connection: int = 64,
        bind_host_v4: str | None = "0.0.0.0",  # noqa: S104 - listening on all interfaces is the point
        bind_host_v6: str | None = "::",
        heartbeat_frame: Callable[[], bytes] | None = None,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 5.0,
        on_connection_lost: ConnectionLostHook | None = None,
        idle_timeout: float = 120.0,
        handshake_timeout: float = 10.0,
        finish_timeout: float = 30.0,
    ) -> Transport:
        """Bind the endpoint on ``port`` (0: random) for both address families and start accepting.

        ``bind_host_v6=None`` leaves IPv6 unpinned (iroh then binds ``[::]`` on a random port itself; neither
        family can be turned off). ``heartbeat_frame`` returns the complete bytes to send (length prefix
        included); ``on_connection_lost`` is called when a pooled outgoing connection ends without us choosing to
        close it (not for idle closes, ``close_peer`` or shutdown; a missed heartbeat counts as lost).
        """
        if len(secret_key) != 32:
            raise ValueError("the secret key must be 32 bytes")
        settings = _Settings(
            on_stream=on_stream,
            admit=admit,
            max_connections=max_connections,
            max_streams=max_streams_per_connection,
            heartbeat_frame=heartbeat_frame,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            on_connection_lost=on_connection_lost,
            idle_timeout=idle_timeout,
            handshake_timeout=handshake_timeout,
            finish_timeout=finish_timeout,
        )
        _ffi.uniffi_set_event_loop(cast(asyncio.BaseEventLoop, asyncio.get_running_loop()))  # note #1
        transport = cls(await _bind(secret_key, port, relay, bind_host_v4, bind_host_v6), settings)
        transport._spawn(transport._accept_loop())
        log.debug("p2p endpoint %s bound on %s", transport.node_id[:16], transport._ep.bound_sockets())
        return transport

    # --- identity and addresses

    def address(self) -> PeerAddress:
        """Our dialable address: the endpoint's direct addresses (loopback ones if it has none) and relay."""
        addr = self._ep.addr()
        direct = tuple(addr.direct_addresses()) or self.local_address().direct_addresses
        return PeerAddress(self.node_id, direct, addr.relay_url())

    def local_address(self) -> PeerAddress:
        """Our address for nodes on the same host: loopback ``ip:port`` for each bound socket."""
        return PeerAddress(self.node_id, tuple(_loopback(bound) for bound in self._ep.bound_sockets()))

    def ticket(self) -> str:
        """An iroh endpoint ticket carrying :meth:`address`."""
        return str(_ffi.EndpointTicket.from_addr(_endpoint_addr(self.address())))

    def relay_url(self) -> str | None:
        """Our home relay, when relays are enabled and one was found."""
        return self._ep.addr().relay_url()

    def bound_ports(self) -> list[int]:
        """The UDP ports we listen on (IPv4 first)."""
        return list(dict.fromkeys(int(bound.rpartition(":")[2]) for bound in self._ep.bound_sockets()))

    # --- connections

    async def connect(self, addr: PeerAddress, timeout: float = 10.0) -> PeerConnection:
        """Our open outgoing connection to ``addr.node_id``, dialling it if there is none (one dial at a time)."""
        if self._closing:
            raise ConnectFailed("the transport is closed")
        node_id = addr.node_id
        if node_id == self.node_id:
            raise ConnectFailed("cannot connect to ourselves")
        pooled = self._outgoing.get(node_id)
        if pooled is not None and not pooled.is_closed:
            return pooled
        dial = self._dials.get(node_id)
        if dial is None:
            dial = self._start_dial(addr, timeout)
        try:
            return await asyncio.shield(dial)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if dial.cancelled() and (current is None or not current.cancelling()):
                raise ConnectFailed("the transport closed while dialling") from None
            raise

    def connections(self, node_id: str | None = None) -> list[PeerConnection]:
        """Open connections (both directions) with ``node_id``, or with everyone."""
        found = [conn for conn in self._outgoing.values() if node_id in (None, conn.node_id)]
        for peer, conns in self._incoming.items():
            if node_id in (None, peer):
                found.extend(conns)
        return [conn for conn in found if not conn.is_closed]

    def close_peer(self, node_id: str, code: CloseCode = CloseCode.BLOCKED, reason: bytes = b"blocked") -> int:
        """Close every connection with ``node_id`` (incoming and outgoing); returns how many."""
        conns = self.connections(node_id)
        for conn in conns:
            conn.close(code, reason)
            self._forget(conn)
        return len(conns)

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closing

    async def close(self) -> None:
        """Close every connection (CloseCode.SHUTDOWN), stop every task and close the endpoint. Idempotent."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            for conn in self.connections():
                conn.close(CloseCode.SHUTDOWN, b"shutdown")
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await _within(self._ep.close(), 5.0)
            except (TimeoutError, _ffi.IrohError) as exc:
                log.warning("closing the p2p endpoint failed: %s", _message(exc))
        finally:
            self._closed.set()

    # --- internals: tasks

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        if self._closing:
            coro.close()
            return None
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _spawn_quiet(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._spawn(coro)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("p2p transport task failed", exc_info=exc)

    # --- internals: outgoing

    def _start_dial(self, addr: PeerAddress, timeout: float) -> asyncio.Task[PeerConnection]:
        task = asyncio.ensure_future(self._dial(addr, timeout))
        self._tasks.add(task)
        self._dials[addr.node_id] = task

        def done(finished: asyncio.Task[PeerConnection]) -> None:
            self._tasks.discard(finished)
            if self._dials.get(addr.node_id) is finished:
                del self._dials[addr.node_id]
            _consume(finished)

        task.add_done_callback(done)
        return task

    async def _dial(self, addr: PeerAddress, timeout: float) -> PeerConnection:
        short = addr.node_id[:16]
        try:
            target = _endpoint_addr(addr)
        except _ffi.IrohError:
            raise ConnectFailed(f"{addr.node_id!r} is not a valid node id") from None
        try:
            conn = await _within(self._ep.connect(target, ALPN), timeout)  # safe to cancel (note #4)
        except TimeoutError:
            raise ConnectFailed(f"no answer from {short} within {timeout:g} s") from None
        except _ffi.IrohError as exc:
            raise ConnectFailed(f"cannot connect to {short}: {_message(exc)}") from None
        peer = PeerConnection(conn, addr.node_id, outgoing=True, spawn=self._spawn_quiet)
        if self._closing:
            peer.close(CloseCode.SHUTDOWN, b"shutdown")
            raise ConnectFailed("the transport closed while dialling")
        self._outgoing[addr.node_id] = peer
        self._spawn(self._watch(peer))
        self._spawn(self._refuse_streams(peer))
        self._spawn(self._keep_alive(peer))
        return peer

    async def _refuse_streams(self, peer: PeerConnection) -> None:
        """Peers send requests on their own connections (spec §2): streams on ours are refused, not left hanging."""
        while True:
            try:
                bi = await peer._conn.accept_bi()
            except _ffi.IrohError:
                return
            log.debug("refusing a stream opened by %s on our outgoing connection", peer.node_id[:16])
            self._spawn(Stream(bi, peer).abort(StreamCode.REFUSED))

    async def _keep_alive(self, peer: PeerConnection) -> None:
        """Close the connection when idle; when heartbeats are on, close it when the peer stops acknowledging."""
        while True:
            await asyncio.sleep(self._settings.heartbeat_interval)
            if peer.is_closed:
                return
            if time.monotonic() - peer.last_used >= self._settings.idle_timeout:
                log.debug("closing the idle connection to %s", peer.node_id[:16])
                peer.close(CloseCode.IDLE, b"idle")
                self._forget(peer)
                return
            if not await self._heartbeat(peer):
                log.info("peer %s missed its heartbeat; closing the connection", peer.node_id[:16])
                peer.close(CloseCode.HEARTBEAT_TIMEOUT, b"heartbeat timeout")
                return

    async def _heartbeat(self, peer: PeerConnection) -> bool:
        """Write the heartbeat frame on a new stream and require the peer's acknowledgement in time.

        A peer whose packets keep arriving while the heartbeat times out (e.g. all its stream slots are busy)
        counts as alive.
        """
        if self._settings.heartbeat_frame is None:
            return True
        try:
            frame = self._settings.heartbeat_frame()
        except Exception:
            log.exception("building the heartbeat frame failed")
            return True
        received = peer._rx_datagrams()
        deadline = asyncio.get_running_loop().time() + self._settings.heartbeat_timeout
        try:
            stream = await peer._open(self._settings.heartbeat_timeout)
            try:
                await stream.write(frame, _remaining(deadline))
                await stream.finish(_remaining(deadline))
            finally:
                await stream.stop(StreamCode.DONE)  # the answer, if any, is not wanted
        except ConnectionClosed:
            return False
        except TransportError:
            return peer._rx_datagrams() > received
        return True

    # --- internals: incoming

    async def _accept_loop(self) -> None:
        while True:
            try:
                incoming = await self._ep.accept_next()
            except _ffi.IrohError as exc:
                if self._ep.is_closed():
                    return
                log.warning("accepting connections failed: %s", _message(exc))
                await asyncio.sleep(0.1)
                continue
            if incoming is None or self._ep.is_closed():  # the endpoint is closed
                return
            if self._handshakes + sum(map(len, self._incoming.values())) >= self._settings.max_connections:
                log.info("refusing a connection: %d connections already", self._settings.max_connections)
                self._spawn(_quietly(incoming.refuse()))
                continue
            self._handshakes += 1
            self._spawn(self._handshake(incoming))

    async def _handshake(self, incoming: _ffi.Incoming) -> None:
        try:
            try:
                accepting = await incoming.accept()
                conn = await _within(accepting.connect(), self._settings.handshake_timeout)
                node_id = str(conn.remote_id())
            except (TimeoutError, _ffi.IrohError) as exc:
                log.debug("an incoming handshake failed: %s", _message(exc))
                return
        finally:
            self._handshakes -= 1
        peer = PeerConnection(conn, node_id, outgoing=False, spawn=self._spawn_quiet)
        conns = self._incoming.setdefault(node_id, set())
        conns.add(peer)
        if len(conns) > MAX_INCOMING_PER_PEER:  # one identity cannot take every connection slot
            oldest = min((c for c in conns if c is not peer), key=lambda c: c.last_used)
            oldest.close(CloseCode.OVERLOADED, b"too many connections")
            self._forget(oldest)
        if not await self._admitted(peer) or self._closing:
            self._forget(peer)
            return
        conn.set_max_concurrent_bi_streams(self._settings.max_streams)
        self._spawn(self._watch(peer))
        self._spawn(self._close_when_idle(peer))
        await self._serve(peer)

    async def _close_when_idle(self, peer: PeerConnection) -> None:
        """Close an incoming connection that carried no stream for ``idle_timeout`` seconds."""
        while not peer.is_closed:
            await asyncio.sleep(self._settings.heartbeat_interval)
            if not peer.is_closed and time.monotonic() - peer.last_used >= self._settings.idle_timeout:
                log.debug("closing the idle connection from %s", peer.node_id[:16])
                peer.close(CloseCode.IDLE, b"idle")
                self._forget(peer)

    async def _admitted(self, peer: PeerConnection) -> bool:
        try:
            admitted = await self._settings.admit(peer.node_id)
        except Exception:
            log.exception("the admission check for %s failed", peer.node_id[:16])
            peer.close(CloseCode.INTERNAL, b"internal error")
            return False
        if not admitted:
            peer.close(CloseCode.BLOCKED, b"blocked")
        return admitted

    async def _serve(self, peer: PeerConnection) -> None:
        """Accept the peer's streams, one task each, at most ``max_streams_per_connection`` at a time."""
        slots = asyncio.Semaphore(self._settings.max_streams)
        while True:
            await slots.acquire()
            try:
                bi = await peer._conn.accept_bi()
            except _ffi.IrohError:
                slots.release()
                return
            if self._spawn(self._serve_stream(peer, Stream(bi, peer), slots)) is None:
                return

    async def _serve_stream(self, peer: PeerConnection, stream: Stream, slots: asyncio.Semaphore) -> None:
        peer.last_used = time.monotonic()
        try:
            await self._settings.on_stream(peer, stream)
        except TransportError as exc:
            log.debug("a stream from %s failed: %s", peer.node_id[:16], exc)
            await stream.abort(StreamCode.INTERNAL)
        except Exception:
            log.exception("the stream handler failed for a stream from %s", peer.node_id[:16])
            await stream.abort(StreamCode.INTERNAL)
        else:
            await stream._settle(self._settings.finish_timeout)
        finally:
            slots.release()

    # --- internals: both directions

    async def _watch(self, peer: PeerConnection) -> None:
        text = "connection lost"
        try:
            text = await peer._conn.closed()
        except _ffi.IrohError as exc:
            text = _message(exc)
        finally:  # also when cancelled by close(), so that wait_closed() returns
            peer._mark_closed(text)
            self._forget(peer)
        log.debug("connection %s %s closed: %s", "to" if peer.outgoing else "from", peer.node_id[:16], text)
        if self._lost_matters(peer) and self._settings.on_connection_lost is not None:
            try:
                await self._settings.on_connection_lost(peer.node_id)
            except Exception:
                log.exception("the connection-lost hook failed for %s", peer.node_id[:16])

    def _lost_matters(self, peer: PeerConnection) -> bool:
        """A pooled connection ended without us choosing to close it (heartbeat failures count as lost)."""
        if not peer.outgoing or self._closing:
            return False
        replacement = self._outgoing.get(peer.node_id)
        if replacement is not None and not replacement.is_closed:
            return False
        local = peer._local_close
        return local is None or local[0] == CloseCode.HEARTBEAT_TIMEOUT

    def _forget(self, peer: PeerConnection) -> None:
        if peer.outgoing:
            if self._outgoing.get(peer.node_id) is peer:
                del self._outgoing[peer.node_id]
            return
        conns = self._incoming.get(peer.node_id)
        if conns is not None:
            conns.discard(peer)
            if not conns:
                del self._incoming[peer.node_id]
