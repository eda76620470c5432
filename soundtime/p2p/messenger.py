"""The messenger: requests we send to peers by node id, always on our own outgoing connections (spec §2, §4).

It exists from the node's construction; until a transport is attached (and after it is detached) every call
raises :class:`PeerUnavailable`, so no caller needs to know whether the node is running. Blocking is enforced
here for every outgoing call: ``address_of`` answers None for a blocked peer, before and after dialling.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from soundtime.blobs.errors import HashMismatch
from soundtime.blobs.refs import BlobRef
from soundtime.blobs.store import BlobStore
from soundtime.kit import metrics
from soundtime.p2p import wire
from soundtime.p2p.errors import BlobUnavailable, PeerMisbehaved, PeerUnavailable
from soundtime.p2p.policy import Policy
from soundtime.p2p.transport import (
    CloseCode,
    ConnectionClosed,
    PeerAddress,
    PeerConnection,
    Stream,
    StreamCode,
    StreamError,
    StreamTimeout,
    Transport,
    TransportError,
)

log = logging.getLogger(__name__)

#: A fire-and-forget message gets no payload back, only a FIN; anything longer is not read.
ACK_REPLY_LIMIT = 1024
CHUNK = 256 * 1024

AddressOf = Callable[[str], Awaitable[PeerAddress | None]]
T = TypeVar("T")


class PeerMessenger:
    """Send requests to peers by node id; ``address_of`` says how to reach one, None when it must not be dialled."""

    def __init__(self, address_of: AddressOf, policy: Policy) -> None:
        self._address_of = address_of
        self._policy = policy
        self._transport: Transport | None = None

    def attach(self, transport: Transport) -> None:
        """Calls go through ``transport`` from now on."""
        self._transport = transport

    def detach(self) -> None:
        """The transport is closing: calls raise :class:`PeerUnavailable` again."""
        self._transport = None

    def close_peer(self, node_id: str, code: CloseCode, reason: bytes) -> None:
        """Close every connection with ``node_id`` (nothing when the node is not running)."""
        if self._transport is not None:
            self._transport.close_peer(node_id, code, reason)

    @property
    def transport(self) -> Transport:
        """The attached transport; PeerUnavailable when the node is not running."""
        return self._check_running()

    def _check_running(self) -> Transport:
        if self._transport is None:
            raise PeerUnavailable("the p2p node is not running")
        return self._transport

    async def connection(self, node_id: str, *, within: float | None = None) -> PeerConnection:
        """Our outgoing connection to the peer (pooled by the transport); a dial gets ``within`` seconds
        (``Timings.connect_timeout`` by default)."""
        transport = self.transport
        address = await self._address_of(node_id)
        if address is None:
            raise PeerUnavailable(f"peer {node_id[:16]} is blocked or has no known address")
        within = self._policy.timings.connect_timeout if within is None else within
        try:
            connection = await transport.connect(address, timeout=within)
        except TransportError as exc:
            raise PeerUnavailable(f"cannot reach peer {node_id[:16]}: {exc}") from exc
        if await self._address_of(node_id) is None:  # blocked while we were dialling: do not keep the connection
            transport.close_peer(node_id, CloseCode.BLOCKED, b"blocked")
            raise PeerUnavailable(f"peer {node_id[:16]} was blocked")
        return connection

    async def _open(self, node_id: str) -> Stream:
        connection = await self.connection(node_id)
        try:
            return await connection.open_stream(timeout=self._policy.timings.connect_timeout)
        except TransportError as exc:
            raise PeerUnavailable(f"cannot open a stream to peer {node_id[:16]}: {exc}") from exc

    async def request(self, node_id: str, message: wire.Message, *, within: float | None = None) -> wire.Message:
        """Send ``message`` and return the peer's one-frame reply (within ``Timings.reply_timeout`` by default)."""
        within = self._policy.timings.reply_timeout if within is None else within
        frame = wire.encode_frame(message)

        async def ask(stream: Stream, within: float) -> bytes:
            await stream.write(frame, timeout=within)
            await stream.finish(ack_timeout=None)  # the reply proves delivery; an ack wait costs ~20 ms
            return await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=within)

        body = await self._exchange(node_id, ask, within, f"peer {node_id[:16]} did not answer")
        try:
            return wire.decode(body)
        except wire.ProtocolError as exc:
            raise PeerMisbehaved(f"peer {node_id[:16]} sent an invalid reply: {exc}") from exc

    async def _exchange(
        self, node_id: str, exchange: Callable[[Stream, float], Awaitable[T]], reply_timeout: float, failed: str
    ) -> T:
        """``exchange(stream, reply_timeout)`` on a new stream to the peer; once more on a new connection if the
        first one turned out dead, within the time one try may take (connect + reply timeouts).

        A pooled connection can lead to a process the peer no longer runs (it restarted: the connection dies when
        the heartbeat notices, or is replaced when the peer connects to us again). A request that fails because
        its connection closed without the peer refusing anything is tried once more on a fresh dial with what is
        left of that time; any other failure (a timeout, the peer's reset or stop) raises at once.
        The stream stays the caller's once ``exchange`` returned (on failure it is aborted here).
        """
        connect_timeout = self._policy.timings.connect_timeout
        clock = asyncio.get_running_loop().time
        deadline = clock() + connect_timeout + reply_timeout

        def left(most: float) -> float:
            return max(0.0, min(most, deadline - clock()))

        for retry in (False, True):
            connection = await self.connection(node_id, within=left(connect_timeout))
            stream: Stream | None = None
            try:
                stream = await connection.open_stream(timeout=left(connect_timeout))
                return await exchange(stream, left(reply_timeout) if retry else reply_timeout)
            except TransportError as exc:
                if stream is not None:
                    await stream.abort(StreamCode.DONE)
                if retry or not isinstance(exc, ConnectionClosed) or not exc.redial_may_help or not left(1.0):
                    raise PeerUnavailable(f"{failed}: {exc}") from exc
                log.info("%s: %s; trying once more on a new connection", failed, exc)  # the pool dials anew
        raise AssertionError("unreachable")

    async def send(self, node_id: str, message: wire.Message | wire.Encoded) -> None:
        """Fire and forget: write, FIN, wait for the acknowledgement; retried on connection and stream errors.

        Acknowledged data counts as delivered unless the peer refuses it: a stop or reset code, or a reset
        instead of its FIN (spec §4: the acceptor FINs once it has handled the message). A peer slow to FIN is
        not retried (SoundTime handles a connection's streams one at a time).
        """
        self._check_running()
        if await self._address_of(node_id) is None:
            raise PeerUnavailable(f"peer {node_id[:16]} is blocked or has no known address")
        frame = wire.encode_frame(message)
        attempts = self._policy.limits.send_attempts
        for attempt in range(1, attempts + 1):
            try:
                await self._deliver(node_id, frame)
            except (PeerUnavailable, TransportError) as exc:
                if attempt == attempts:
                    raise PeerUnavailable(f"sending to peer {node_id[:16]} failed: {exc}") from exc
                await asyncio.sleep(self._policy.timings.send_retry_delay * attempt)
            else:
                return

    async def _deliver(self, node_id: str, frame: bytes) -> None:
        ack_timeout = self._policy.timings.ack_timeout
        stream = await self._open(node_id)
        await stream.write(frame, timeout=ack_timeout)
        stopped = await stream.finish(ack_timeout=ack_timeout)
        if stopped not in (None, StreamCode.DONE):
            raise PeerUnavailable(f"the peer refused it (code {stopped})")
        try:
            await stream.read_to_end(ACK_REPLY_LIMIT, timeout=ack_timeout)
        except StreamTimeout:
            log.debug("peer %s acknowledged a message but did not finish its side in time", node_id[:16])
        except StreamError as exc:
            if exc.code == StreamCode.REFUSED:
                raise PeerUnavailable("the peer refused it (too many requests)") from exc
            raise

    async def open_blob(self, node_id: str, digest: str, *, max_size: int) -> tuple[Stream, int]:
        """Ask a peer for a blob; return the stream positioned at its first byte and the announced size.

        The caller reads ``size`` bytes (:meth:`read_blob`) and must verify them against ``digest``.
        """
        reply_timeout = self._policy.timings.reply_timeout
        frame = wire.encode_frame(wire.FetchTrack(hash=digest))

        async def ask(stream: Stream, within: float) -> tuple[Stream, int]:
            await stream.write(frame, timeout=within)
            await stream.finish(ack_timeout=None)
            (size,) = struct.unpack(">I", await stream.read_exact(4, timeout=within))
            return stream, size

        failed = f"fetching {digest[:16]} from {node_id[:16]} failed"
        stream, size = await self._exchange(node_id, ask, reply_timeout, failed)
        if size == 0:
            await stream.abort(StreamCode.DONE)
            raise BlobUnavailable(f"peer {node_id[:16]} does not offer {digest[:16]}")
        if size > max_size:
            await stream.abort(StreamCode.TOO_LARGE)
            raise PeerMisbehaved(f"peer {node_id[:16]} announced {size} bytes for {digest[:16]} (max {max_size})")
        return stream, size

    async def probe_blob(self, node_id: str, digest: str, *, max_size: int) -> int:
        """Whether a peer offers a blob: its announced size (the transfer is stopped after the length prefix)."""
        stream, size = await self.open_blob(node_id, digest, max_size=max_size)
        await stream.abort(StreamCode.DONE)
        return size

    async def fetch_blob(self, node_id: str, digest: str, store: BlobStore, *, max_size: int) -> BlobRef:
        """Fetch a blob by hash and store it only if its BLAKE3 hash matches ``digest``."""
        stream, size = await self.open_blob(node_id, digest, max_size=max_size)
        writer = store.writer(max_size=size)
        try:
            async for chunk in self.read_blob(stream, size, digest):
                await asyncio.to_thread(writer.write, chunk)
            return await asyncio.to_thread(writer.commit, digest)
        except TransportError as exc:
            raise PeerUnavailable(f"fetching {digest[:16]} from {node_id[:16]} failed: {exc}") from exc
        except HashMismatch as exc:
            metrics.verification_failed("cover")
            raise PeerMisbehaved(f"peer {node_id[:16]} sent bytes that do not match {digest[:16]}") from exc
        finally:
            writer.abort()
            await stream.abort(StreamCode.DONE)

    async def read_blob(self, stream: Stream, size: int, digest: str) -> AsyncIterator[bytes]:
        """The ``size`` bytes of a blob transfer as they arrive; a stall, a short or a long transfer raises.

        Raises :class:`TransportError` (stall, reset, lost connection) or :class:`PeerMisbehaved` (wrong length).
        """
        received = 0
        stall = self._policy.timings.stall_timeout
        while received < size:
            chunk = await stream.read_chunk(min(CHUNK, size - received), stall_timeout=stall)
            if not chunk:
                raise PeerMisbehaved(f"the transfer of {digest[:16]} ended after {received} of {size} bytes")
            received += len(chunk)
            yield chunk
        if await stream.read_chunk(1, stall_timeout=stall):
            raise PeerMisbehaved(f"the transfer of {digest[:16]} carried more than {size} bytes")
