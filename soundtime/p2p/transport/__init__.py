"""Transports for ``soundtime/p2p/1``: the interface (:mod:`.base`), QUIC over iroh (the only package of the project
that uses ``iroh``) and an in-memory network for tests (:mod:`.memory`).

Everything above this package sees ``bytes``, 64-hex node ids and the exception types defined here. Layout:

- ``base``: the interface above the transport sees (:class:`Transport`, :class:`PeerConnection`, :class:`Stream`)
  and the callbacks a transport calls.
- ``_iroh``: the only module that imports ``iroh`` (the bindings as ``ffi``), the send-path patch and the
  ``IrohError`` message helper.
- ``errors``: close and stream codes, :class:`TransportError` and its subclasses.
- ``addresses``: :class:`PeerAddress`, node ids, socket addresses and endpoint tickets.
- ``streams``: :class:`IrohStream` and :class:`IrohConnection`.
- ``endpoint``: :class:`IrohTransport` (bind, accept, handshake, pooling, heartbeat, idle, close; a pooled
  connection is probed when its node connects to us again, and replaced if it leads to a dead process).
- ``memory``: :class:`MemoryNetwork`, N transports in one process (same stream semantics, no sockets).

The quirks of the iroh 1.2.0 bindings (docs: shared/notes/iroh-python.md) are handled here:

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

from soundtime.p2p.ids import is_node_id
from soundtime.p2p.transport._iroh import send_patch_applied, set_send_patch
from soundtime.p2p.transport.addresses import (
    PeerAddress,
    node_id_of_secret,
    node_id_or_none,
    normalize_node_id,
    parse_peer_address,
    parse_socket_address,
    ticket_of,
)
from soundtime.p2p.transport.base import (
    AdmitHook,
    Callbacks,
    ConnectionLostHook,
    PeerConnection,
    StartTransport,
    Stream,
    StreamHandler,
    Transport,
)
from soundtime.p2p.transport.endpoint import ALPN, IrohTransport
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
from soundtime.p2p.transport.memory import MemoryNetwork, MemoryTransport
from soundtime.p2p.transport.streams import IrohConnection, IrohStream, Spawn

__all__ = [
    "ALPN",
    "AdmitHook",
    "Callbacks",
    "CloseCode",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionLost",
    "ConnectionLostHook",
    "FrameTooLarge",
    "IrohConnection",
    "IrohStream",
    "IrohTransport",
    "MemoryNetwork",
    "MemoryTransport",
    "PeerAddress",
    "PeerConnection",
    "Spawn",
    "StartTransport",
    "Stream",
    "StreamCode",
    "StreamError",
    "StreamHandler",
    "StreamTimeout",
    "Transport",
    "TransportError",
    "is_node_id",
    "node_id_of_secret",
    "node_id_or_none",
    "normalize_node_id",
    "parse_peer_address",
    "parse_socket_address",
    "send_patch_applied",
    "set_send_patch",
    "ticket_of",
]
