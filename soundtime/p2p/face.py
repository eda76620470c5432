"""The public face of federation: what the rest of the application sees of the running node (only the
application factory builds it), and the few types it hands out.

Routes, the library, streaming and search are written against :class:`Federation`; they never import the node.
"""

from __future__ import annotations

from typing import Protocol

from soundtime.kit.jobs import JobRunner
from soundtime.p2p import wire
from soundtime.p2p.downloads import Download, DownloadFailed, Downloads, TooManyTransfers
from soundtime.p2p.health.keeper import HealthKeeper
from soundtime.p2p.library_sync.tracker import Resyncs
from soundtime.p2p.parts import Ports
from soundtime.p2p.peers.contacts import Contacts
from soundtime.p2p.peers.exchange import PeerExchange
from soundtime.p2p.peers.registry import PeerRegistry
from soundtime.p2p.plans.sources import RemoteTrack
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Handler, Messenger, OwnNode, Signals
from soundtime.p2p.sync import CatalogSync
from soundtime.p2p.transport import Transport

__all__ = ["Download", "DownloadFailed", "Federation", "RemoteTrack", "TooManyTransfers"]


class Federation(Protocol):
    """The federation node's parts, as the application uses them."""

    @property
    def ports(self) -> Ports:
        """The ports the node's parts share (extensions build their parts on them)."""
        ...

    @property
    def own(self) -> OwnNode:
        """The node's own."""
        ...

    @property
    def policy(self) -> Policy:
        """The node's policy."""
        ...

    @property
    def jobs(self) -> JobRunner:
        """The node's jobs."""
        ...

    @property
    def messenger(self) -> Messenger:
        """The node's messenger."""
        ...

    @property
    def signals(self) -> Signals:
        """The node's signals."""
        ...

    @property
    def peers(self) -> PeerRegistry:
        """The node's peers."""
        ...

    @property
    def contacts(self) -> Contacts:
        """The node's contacts."""
        ...

    @property
    def exchange(self) -> PeerExchange:
        """The node's exchange."""
        ...

    @property
    def sync(self) -> CatalogSync:
        """The node's sync."""
        ...

    @property
    def downloads(self) -> Downloads:
        """The node's downloads."""
        ...

    @property
    def health(self) -> HealthKeeper:
        """The node's health."""
        ...

    @property
    def resyncs(self) -> Resyncs:
        """The node's resyncs."""
        ...

    @property
    def node_id(self) -> str:
        """Our node id (known once the node has started)."""
        ...

    @property
    def transport(self) -> Transport:
        """The running transport (PeerUnavailable when the node is not running)."""
        ...

    def handle(self, kind: type[wire.Message], handler: Handler) -> None:
        """Serve requests of type ``kind`` (extensions such as distributed search register theirs)."""
        ...

    def tracks_added(self) -> None:
        """Our library gained tracks (an upload): announce them to the online peers."""
        ...
