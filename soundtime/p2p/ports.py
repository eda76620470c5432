"""The narrow interfaces federation components are given (instead of the node that built them)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Protocol

from soundtime import __version__
from soundtime.blobs.refs import BlobRef
from soundtime.blobs.store import BlobStore
from soundtime.p2p import wire
from soundtime.p2p.transport.base import PeerConnection, Stream
from soundtime.p2p.transport.errors import CloseCode

log = logging.getLogger(__name__)

P = ParamSpec("P")

#: How our nodes' version strings end (peers without it are treated as SoundTime nodes).
VERSION_SUFFIX = "-soundtime-py"
#: What we tell peers our version is (SoundTime shows it in its peer list).
VERSION = f"{__version__}{VERSION_SUFFIX}"
#: Largest track count we store for a peer (the column is a signed 64-bit integer; the wire allows u64).
MAX_TRACK_COUNT = (1 << 63) - 1

#: Serves one request a peer sent (the frame already decoded): ``handler(connection, stream, message)``.
Handler = Callable[[PeerConnection, Stream, Any], Awaitable[None]]


class Blocklist(Protocol):
    """Whether a node is blocked (by id)."""

    def is_blocked(self, node_id: str) -> bool:
        """True for a blocked node id."""
        ...


class Requests(Protocol):
    """Messages to peers by node id. Every call raises :class:`~soundtime.p2p.errors.PeerError` when it fails
    (:class:`~soundtime.p2p.errors.PeerUnavailable` while the node is not running or the peer is blocked)."""

    async def request(self, node_id: str, message: wire.Message, *, within: float | None = None) -> wire.Message:
        """Send ``message`` and return the peer's one-frame reply."""
        ...

    async def send(self, node_id: str, message: wire.Message | wire.Encoded) -> None:
        """Fire and forget, acknowledged."""
        ...


class Blobs(Protocol):
    """Blobs from peers by node id and hash (errors as for :class:`Requests`)."""

    async def open_blob(self, node_id: str, digest: str, *, max_size: int) -> tuple[Stream, int]:
        """Ask for a blob: the stream at its first byte, and the announced size."""
        ...

    def read_blob(self, stream: Stream, size: int, digest: str) -> AsyncIterator[bytes]:
        """The ``size`` bytes of an opened blob transfer as they arrive."""
        ...

    async def probe_blob(self, node_id: str, digest: str, *, max_size: int) -> int:
        """Whether a peer offers a blob: its announced size."""
        ...

    async def fetch_blob(self, node_id: str, digest: str, store: BlobStore, *, max_size: int) -> BlobRef:
        """Fetch a blob and keep it only if its hash matches."""
        ...


class Messenger(Requests, Blobs, Protocol):
    """Every call to peers (a part that both sends messages and fetches blobs takes this)."""


#: Close our connections with a peer (nothing when the node is not running): ``close_peer(node_id, code, reason)``.
ClosePeer = Callable[[str, CloseCode, bytes], None]


@dataclass
class OwnNode:
    """This node as peers see it: its id (known once the transport is up) and how many tracks it holds."""

    node_id: str = ""
    track_count: int = 0

    def pong(self) -> wire.Pong:
        """Our answer to a Ping (and our heartbeat)."""
        return wire.Pong(node_id=self.node_id, track_count=self.track_count, version=VERSION)


@dataclass
class Signal(Generic[P]):
    """A sibling signal: the component that notices something calls it; whoever cares has connected a listener.

    A listener is a plain function (it spawns a job if it has work to do); one that raises is logged and the
    others still run.
    """

    name: str
    _listeners: list[Callable[P, object]] = field(default_factory=list)

    def connect(self, listener: Callable[P, object]) -> None:
        """Call ``listener`` on every emission."""
        self._listeners.append(listener)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in self._listeners:
            try:
                listener(*args, **kwargs)
            except Exception:
                log.exception("a listener of %s failed", self.name)


@dataclass
class Signals:
    """What federation tells its siblings (search routing filters, among others, listen)."""

    #: The node is running (its transport attached): background work that talks to peers may start.
    started: Signal[[]] = field(default_factory=lambda: Signal("started"))
    #: A peer pinged us: (node id).
    pinged: Signal[[str]] = field(default_factory=lambda: Signal("pinged"))
    #: A peer answered our Ping: (node id).
    contacted: Signal[[str]] = field(default_factory=lambda: Signal("contacted"))
    #: A round ended with these peers online.
    round_done: Signal[[list[str]]] = field(default_factory=lambda: Signal("round done"))
    #: A block of this peer is committed: stop what runs for it, drop what is kept about it.
    peer_blocked: Signal[[str]] = field(default_factory=lambda: Signal("peer blocked"))
    #: This peer's deletion is committed: drop what is kept about it.
    peer_forgotten: Signal[[str]] = field(default_factory=lambda: Signal("peer forgotten"))
    #: The tracks we know changed (an upload, a deletion, rows replicated from a peer).
    catalogue_changed: Signal[[]] = field(default_factory=lambda: Signal("catalogue changed"))
