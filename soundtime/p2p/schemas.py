"""HTTP models of the federation routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, RootModel


class P2PStatus(BaseModel):
    """The node's state; the first keys are SoundTime's, the rest ours."""

    enabled: bool
    node_id: str | None
    relay_url: str | None
    relay_connected: bool
    direct_addresses: list[str]
    peer_count: int
    online_peer_count: int
    dht_discovery_enabled: bool
    ticket: str | None = Field(description="iroh ticket other instances can use to add this one")
    listen_ports: list[int]
    local_discovery: bool
    version: str


class PeerOut(BaseModel):
    """A known peer."""

    node_id: str
    name: str | None
    version: str | None
    track_count: int
    is_online: bool
    last_seen_at: datetime | None
    created_at: datetime
    source: str
    addresses: list[str]
    failure_count: int
    next_attempt_at: datetime | None
    last_catalog_push_at: datetime | None


class PeerList(RootModel[list[PeerOut]]):
    """Every known peer, online first."""


class AddPeerIn(BaseModel):
    """A peer to add: node id, ``id@ip:port`` or an iroh ticket."""

    node_id: str = Field(min_length=1, max_length=4096)


class AddPeerOut(BaseModel):
    """The added peer and whether it answered a Ping."""

    peer: PeerOut
    reachable: bool
    error: str | None = None


class PingOut(BaseModel):
    """Result of pinging a peer."""

    node_id: str
    reachable: bool
    rtt_ms: float | None = None
    track_count: int | None = None
    version: str | None = None
    error: str | None = None


class GraphNode(BaseModel):
    """A node of the network graph."""

    id: str
    node_type: Literal["self", "peer", "relay"]
    label: str
    online: bool
    track_count: int | None = None
    version: str | None = None


class GraphLink(BaseModel):
    """An edge of the network graph."""

    source: str
    target: str
    link_type: Literal["peer", "relay", "direct"]


class NetworkGraph(BaseModel):
    """Self, peers, relay and the peers of peers learned by exchange."""

    nodes: list[GraphNode]
    links: list[GraphLink]


class BlockIn(BaseModel):
    """A node id (P2P peer) or domain to block."""

    domain: str = Field(min_length=1, max_length=255)
    reason: str | None = Field(None, max_length=500)


class BlockOut(BaseModel):
    """A block."""

    id: uuid.UUID
    domain: str
    reason: str | None
    created_at: datetime


class BlockExport(BaseModel):
    """A block as exported and imported."""

    domain: str = Field(min_length=1, max_length=255)
    reason: str | None = Field(None, max_length=500)


class BlockImportOut(BaseModel):
    """Outcome of an import."""

    imported: int
    skipped: int
