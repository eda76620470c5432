"""The public faces of federation: what the rest of the application sees of the running node (only the
application factory builds it), and the few types it hands out.

:class:`Federation` is what routes and services use: a handful of operations, each through a small protocol.
:class:`FederationHost` is what an extension (distributed search) plugs into: the node's ports, its signals and
its handler table. Neither exposes the node's parts; nobody outside :mod:`soundtime.app` imports the node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from soundtime.kit.db import Database
from soundtime.kit.jobs import JobRunner
from soundtime.p2p import wire
from soundtime.p2p.catalog import Replicated
from soundtime.p2p.downloads import Download, DownloadFailed, TooManyTransfers
from soundtime.p2p.health.schemas import SweepReport
from soundtime.p2p.library_sync.tracker import Resyncs
from soundtime.p2p.plans.sources import RemoteTrack
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Blocklist, Handler, Messenger, OwnNode, Requests, Signals
from soundtime.p2p.transport import PeerAddress

__all__ = ["Download", "DownloadFailed", "Federation", "FederationHost", "RemoteTrack", "TooManyTransfers"]


class OwnEndpoint(Protocol):
    """How peers reach this node."""

    def address(self) -> PeerAddress:
        """Our dialable address."""
        ...

    def ticket(self) -> str:
        """An endpoint ticket carrying :meth:`address`."""
        ...

    def bound_ports(self) -> list[int]:
        """The ports we listen on."""
        ...


class PeerAdmin(Protocol):
    """What the administration does with peers (the registry; ``blocked``/``unblock``/``forget`` run after the
    transaction that records the change has committed)."""

    def is_blocked(self, node_id: str) -> bool:
        """Whether the node is blocked."""
        ...

    async def add(self, address: PeerAddress, *, source: str = "manual") -> bool:
        """Register a peer so it can be dialled; False for ourselves or a blocked node."""
        ...

    async def record_failure(self, node_id: str) -> None:
        """A contact attempt failed."""
        ...

    def blocked(self, node_ids: Sequence[str]) -> None:
        """New blocks are committed."""
        ...

    def unblock(self, node_id: str) -> None:
        """A lifted block is committed."""
        ...

    def forget(self, node_id: str) -> None:
        """A peer's deletion is committed."""
        ...


class Reach(Protocol):
    """Pinging a peer now (administration's "ping" and "add")."""

    async def ping(self, node_id: str) -> wire.Pong:
        """Ping and return the Pong (PeerError when the peer does not answer)."""
        ...

    async def contact(self, node_id: str) -> wire.Pong | None:
        """Ping as the schedule does; None when the peer did not answer."""
        ...


class Streams(Protocol):
    """Playing remote tracks."""

    async def open(self, track: RemoteTrack) -> Download:
        """Join or start the transfer of a track's blob (the caller releases the result)."""
        ...


class Sweeps(Protocol):
    """The health sweep, as the administration starts and watches it."""

    last_report: SweepReport | None

    @property
    def sweeping(self) -> bool:
        """Whether a sweep runs."""
        ...

    def start_sweep(self) -> asyncio.Task[SweepReport]:
        """Start a sweep now (or return the running one)."""
        ...


class Federation(Protocol):
    """The running federation node, as routes and services use it."""

    @property
    def node_id(self) -> str:
        """Our node id (known once the node has started)."""
        ...

    @property
    def transport(self) -> OwnEndpoint:
        """Our endpoint (PeerUnavailable when the node is not running)."""
        ...

    @property
    def policy(self) -> Policy:
        """Timings and limits (the admin operations' timeouts among them)."""
        ...

    @property
    def peers(self) -> PeerAdmin:
        """Registering, blocking and forgetting peers."""
        ...

    @property
    def contacts(self) -> Reach:
        """Pinging a peer now."""
        ...

    @property
    def messenger(self) -> Requests:
        """Messages to a peer (the admin re-sync sends RequestCatalog)."""
        ...

    @property
    def resyncs(self) -> Resyncs:
        """Admin re-syncs in progress."""
        ...

    @property
    def downloads(self) -> Streams:
        """Playing remote tracks."""
        ...

    @property
    def health(self) -> Sweeps:
        """The health sweep."""
        ...

    def tracks_added(self) -> None:
        """Our library gained tracks (an upload): announce them to the online peers."""
        ...

    def catalogue_changed(self) -> None:
        """The tracks we know changed (a deletion): whoever keeps a view of them rebuilds it."""
        ...


class FederationHost(Protocol):
    """What an extension of federation (distributed search) is built on."""

    @property
    def db(self) -> Database:
        """The database."""
        ...

    @property
    def own(self) -> OwnNode:
        """This node as peers see it."""
        ...

    @property
    def policy(self) -> Policy:
        """Timings and limits."""
        ...

    @property
    def jobs(self) -> JobRunner:
        """Background jobs of federation (stopped with the node)."""
        ...

    @property
    def messenger(self) -> Messenger:
        """Calls to peers."""
        ...

    @property
    def blocklist(self) -> Blocklist:
        """Whether a node is blocked."""
        ...

    @property
    def signals(self) -> Signals:
        """What federation tells its siblings."""
        ...

    def handle(self, kind: type[wire.Message], handler: Handler) -> None:
        """Serve requests of type ``kind``."""
        ...

    async def replicate(self, sender: str, tracks: Sequence[wire.TrackAnnouncement]) -> Replicated:
        """Ingest announcements from ``sender`` as if it had pushed them."""
        ...
