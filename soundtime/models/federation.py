"""Peers, where replicated tracks can be fetched from, the peer graph, and blocked nodes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from soundtime.models.base import HEX64_PATTERN, Base, CreatedAt, UuidPk

PEER_SOURCES = ("seed", "manual", "inbound", "exchange", "local")


class Peer(Base):
    """A known instance: identity, what it told us, how to reach it, and how our sync with it stands."""

    __tablename__ = "peers"
    __table_args__ = (
        CheckConstraint(f"node_id ~ '{HEX64_PATTERN}'", name="node_id_hex"),
        CheckConstraint("track_count >= 0", name="track_count_nonnegative"),
        CheckConstraint(
            "source IN (" + ", ".join(f"'{s}'" for s in PEER_SOURCES) + ")",
            name="source",
        ),
    )

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(64))
    track_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    is_online: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[CreatedAt]
    source: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    #: Last known direct addresses ("ip:port") and relay, so the peer can be dialled after a restart.
    addresses: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    relay_url: Mapped[str | None] = mapped_column(String(255))
    #: Creation time of the newest catalog entry received from this peer; the next sync is a delta from it.
    sync_watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Last time we pushed our catalog to it (per-peer rate limit of Ping-triggered pushes).
    last_catalog_push_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PeerLink(Base):
    """An edge of the network graph: ``node_id`` told us (by peer exchange) that it knows ``neighbour_id``."""

    __tablename__ = "peer_links"
    __table_args__ = (
        CheckConstraint(f"neighbour_id ~ '{HEX64_PATTERN}'", name="neighbour_id_hex"),
        CheckConstraint("node_id <> neighbour_id", name="not_self"),
    )

    node_id: Mapped[str] = mapped_column(String(64), ForeignKey("peers.node_id", ondelete="CASCADE"), primary_key=True)
    neighbour_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    last_seen_at: Mapped[CreatedAt]


class RemoteTrackSource(Base):
    """A peer that offers a replicated track's audio (``p2p://<node_id>/<content_hash>``), or what we know of the
    track's origin: the peer that announced a track is its source without a row (see :data:`track_sources`); a row
    of the origin carries its failures, or says it is no source any more (``withdrawn``)."""

    __tablename__ = "remote_track_sources"

    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True)
    node_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("peers.node_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_origin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    first_seen_at: Mapped[CreatedAt]
    last_seen_at: Mapped[CreatedAt]
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


#: The view of every source of every replicated track (read only; migration 0009 defines it): the rows of
#: ``remote_track_sources`` that are not withdrawn, and each track's origin (while it is a peer of ours) unless a
#: row of the origin exists. Not part of ``Base.metadata``: it is no table.
track_sources = Table(
    "track_sources",
    MetaData(),
    Column("track_id", Uuid, primary_key=True),
    Column("node_id", String(64), primary_key=True),
    Column("is_origin", Boolean),
    Column("last_seen_at", DateTime(timezone=True)),
    Column("failure_count", Integer),
)


class BlockedDomain(Base):
    """A blocked instance; for P2P peers ``domain`` holds the node id (SoundTime's naming)."""

    __tablename__ = "blocked_domains"
    __table_args__ = (UniqueConstraint("domain"),)

    id: Mapped[UuidPk]
    domain: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[CreatedAt]
