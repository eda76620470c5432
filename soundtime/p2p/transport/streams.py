"""Streams and connections: deadlines, frames, resets and close reasons on top of the iroh stream objects."""

# Timeouts are parameters on purpose (ASYNC109): a caller's asyncio.timeout would cancel a bare read (note #4);
# the stream methods enforce their deadline themselves and abort the stream when it passes.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from soundtime.kit import metrics
from soundtime.p2p.transport._iroh import _message, ffi
from soundtime.p2p.transport.base import StreamBase
from soundtime.p2p.transport.errors import (
    CloseCode,
    ConnectionClosed,
    ConnectionLost,
    FrameTooLarge,
    StreamCode,
    StreamError,
    StreamTimeout,
    TransportError,
    _parse_close,
)

log = logging.getLogger("soundtime.p2p.transport")  # one logger name for the whole package

T = TypeVar("T")
_C = TypeVar("_C", bound="ConnectionClosed")

_U32_MAX = (1 << 32) - 1
_QUICK_TIMEOUT = 2.0  # best-effort control calls (stop, reset, received_reset)


Spawn = Callable[[Coroutine[Any, Any, Any]], object]


def _consume(task: asyncio.Future[Any]) -> None:
    """Mark a finished inner task's exception as retrieved (we either re-raise it or no longer care)."""
    if not task.cancelled():
        task.exception()


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


async def _within(operation: Awaitable[T], timeout: float) -> T:
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
    except (TimeoutError, ffi.IrohError) as exc:
        log.debug("best-effort stream call failed: %s", _message(exc))


class IrohStream(StreamBase):
    """One bidirectional stream. Not for concurrent use of the same direction by two tasks."""

    def __init__(self, bi: ffi.BiStream, connection: IrohConnection) -> None:
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
        data = cast(bytes, await self._run(self._recv.read_exact(n), timeout, f"reading {n} bytes", send=False))
        metrics.bytes_received(len(data))
        return data

    async def read_chunk(self, max_bytes: int, stall_timeout: float) -> bytes:
        """Up to ``max_bytes`` as they arrive; b"" only at a clean end; StreamTimeout after a stall."""
        if self._recv_state == "eof":
            return b""
        self._check_readable()
        size = min(max(1, max_bytes), _U32_MAX)
        data = cast(bytes, await self._run(self._recv.read(size), stall_timeout, "reading", send=False))
        if data:
            metrics.bytes_received(len(data))
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
        metrics.bytes_received(len(data))
        self._recv_state = "eof"
        return data

    # writing

    async def write(self, data: bytes, timeout: float) -> None:
        """Write all of ``data`` within ``timeout`` seconds (flow control may make it wait for the peer)."""
        if self._send_state != "open":
            raise StreamError(f"cannot write: the send side is already {self._send_state}")
        payload = data if type(data) is bytes else bytes(data)
        await self._run(self._send.write_all(payload), timeout, "writing", send=True)
        metrics.bytes_sent(len(payload))

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
        if not isinstance(exc, ffi.IrohError):
            return exc
        text = _message(exc)
        if "ConnectionLost" in text or exc.kind() in (ffi.IrohErrorKind.CONNECTION, ffi.IrohErrorKind.CLOSED):
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
        except (TimeoutError, ffi.IrohError):
            return None


# --- connections ----------------------------------------------------------------------------------------------


class IrohConnection:
    """One QUIC connection with a peer, opened by us (``outgoing``) or by the peer."""

    def __init__(self, conn: ffi.Connection, node_id: str, *, outgoing: bool, spawn: Spawn) -> None:
        self._conn = conn
        self.node_id = node_id
        self.outgoing = outgoing
        self._spawn = spawn
        self._closed = asyncio.Event()
        self._close_error: ConnectionClosed | None = None
        self._final_text: str | None = None
        self._local_close: tuple[CloseCode, bytes] | None = None
        self.created = self.last_used = time.monotonic()
        #: A liveness check under way or done (the node connected to us again while this one was pooled).
        self.probe: asyncio.Task[bool] | None = None

    def __repr__(self) -> str:
        direction = "to" if self.outgoing else "from"
        return f"<IrohConnection {direction} {self.node_id[:16]}{' closed' if self.is_closed else ''}>"

    @property
    def is_closed(self) -> bool:
        """Whether the connection is closed (by either side) or closing."""
        return self._local_close is not None or self._closed.is_set() or self._conn.close_reason() is not None

    @property
    def close_error(self) -> ConnectionClosed | None:
        """Why the connection closed, once it has."""
        return self._close_error

    async def open_stream(self, timeout: float = 10.0) -> IrohStream:
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
        except ffi.IrohError as exc:
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
        except ffi.IrohError:
            return None

    def remote_addresses(self) -> list[str]:
        """The peer's ``ip:port`` addresses seen on this connection (selected path first)."""
        try:
            paths = self._conn.paths()
        except ffi.IrohError:
            return []
        ordered = sorted((path for path in paths if path.is_ip), key=lambda path: not path.is_selected)
        return list(dict.fromkeys(path.remote_addr for path in ordered))

    async def _open(self, timeout: float) -> IrohStream:
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
        return IrohStream(task.result(), self)

    def _discard_open(self, task: asyncio.Task[ffi.BiStream]) -> None:
        """Cancel an ``open_bi``; a stream that was opened anyway is reset rather than left to finish empty."""

        def discard(done: asyncio.Future[ffi.BiStream]) -> None:
            if not done.cancelled() and done.exception() is None:
                self._spawn(IrohStream(done.result(), self).abort(StreamCode.INTERNAL))

        task.add_done_callback(discard)
        task.cancel()

    def _rx_datagrams(self) -> int:
        try:
            return self._conn.stats().udp_rx_datagrams
        except ffi.IrohError:
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
        except ffi.IrohError:
            return None
