"""Artists, albums, cover images, tracks, and the record of imported files."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from soundtime.models.base import HEX64_PATTERN, Base, CreatedAt, Hex64, UuidPk, hex64_check

#: Full-text documents and queries go through the SQL function ``search_document`` (initial migration):
#: hyphens split words, then PostgreSQL's "simple" configuration (no stemming or stop words). Search vectors are
#: stored (generated columns for artists and albums; for tracks, whose vector holds the names of their artist and
#: album, ``track_document`` by a trigger or by catalog ingest) and never loaded into Python objects.


#: Articles skipped when sorting and indexing artist names (Subsonic's default list).
IGNORED_ARTICLES = "The El La Los Las Le Les"
#: SQL of an artist's sort key: the name lower-cased without its leading article (as Subsonic's index sorts them).
ARTIST_INDEX_KEY = "regexp_replace(lower(name), '^(" + "|".join(IGNORED_ARTICLES.lower().split()) + ") +', '')"


class Artist(Base):
    """A performer; names are unique exactly as written in tags."""

    __tablename__ = "artists"
    __table_args__ = (
        UniqueConstraint("name"),
        Index("ix_artists_search", "search_vector", postgresql_using="gin"),
        Index("ix_artists_created", "created_at", "id"),
        Index("ix_artists_index_key", "index_key", "id"),
    )

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(255))
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed("search_document(name)", persisted=True), deferred=True, deferred_raiseload=True
    )
    #: Stored, so lists sorted by artist read it (and its index) instead of computing a regular expression per row.
    index_key: Mapped[str] = mapped_column(Text, Computed(ARTIST_INDEX_KEY, persisted=True), deferred=True)
    created_at: Mapped[CreatedAt]


class Cover(Base):
    """Cover art stored as a blob (BLAKE3-addressed) with the media type read from its bytes."""

    __tablename__ = "covers"
    __table_args__ = (CheckConstraint(f"hash ~ '{HEX64_PATTERN}'", name="hash_hex"),)

    hash: Mapped[Hex64] = mapped_column(primary_key=True)
    mime: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[CreatedAt]


class Album(Base):
    """An album, unique on (title, album artist)."""

    __tablename__ = "albums"
    __table_args__ = (
        UniqueConstraint("title", "artist_id"),
        Index("ix_albums_search", "search_vector", postgresql_using="gin"),
        Index("ix_albums_created", "created_at", "id"),
    )

    id: Mapped[UuidPk]
    title: Mapped[str] = mapped_column(String(255))
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="RESTRICT"), index=True)
    year: Mapped[int | None] = mapped_column(SmallInteger)
    genre: Mapped[str | None] = mapped_column(String(128))
    cover_hash: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("covers.hash", ondelete="SET NULL"), index=True
    )
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed("search_document(title)", persisted=True), deferred=True, deferred_raiseload=True
    )
    created_at: Mapped[CreatedAt]


class Track(Base):
    """A piece of audio identified by the BLAKE3 hash of its file bytes; one row per hash.

    ``origin_node`` is NULL for our own tracks and the node id of the peer that announced a replicated one;
    ``file_path`` (relative to the audio store) is NULL while a replicated track's audio is not held locally.
    """

    __tablename__ = "tracks"
    __table_args__ = (
        UniqueConstraint("content_hash"),
        CheckConstraint(hex64_check("content_hash"), name="content_hash_hex"),
        CheckConstraint(f"origin_node IS NULL OR ({hex64_check('origin_node')})", name="origin_node_hex"),
        CheckConstraint("duration_secs >= 0", name="duration_nonnegative"),
        CheckConstraint("file_size >= 0", name="file_size_nonnegative"),
        Index("ix_tracks_created", "created_at", "id"),
        Index("ix_tracks_album_order", "album_id", "disc_number", "track_number"),
        Index("ix_tracks_search", "search_vector", postgresql_using="gin"),
        Index("ix_tracks_local_created", "created_at", "id", postgresql_where=text("origin_node IS NULL")),
        Index("ix_tracks_local_updated", "updated_at", "id", postgresql_where=text("origin_node IS NULL")),
        Index("ix_tracks_remote", "id", postgresql_where=text("origin_node IS NOT NULL")),
        Index("ix_tracks_origin", "origin_node", postgresql_where=text("origin_node IS NOT NULL")),
        Index("ix_tracks_uploader", "uploaded_by", postgresql_where=text("uploaded_by IS NOT NULL")),
    )

    id: Mapped[UuidPk]
    title: Mapped[str] = mapped_column(String(255))
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="RESTRICT"))
    album_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("albums.id", ondelete="RESTRICT"))
    track_number: Mapped[int | None] = mapped_column(SmallInteger)
    disc_number: Mapped[int | None] = mapped_column(SmallInteger)
    year: Mapped[int | None] = mapped_column(SmallInteger)
    genre: Mapped[str | None] = mapped_column(String(128))
    duration_secs: Mapped[float] = mapped_column(Float)
    format: Mapped[str] = mapped_column(String(16))
    bitrate_kbps: Mapped[int | None] = mapped_column(Integer)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(SmallInteger)
    content_hash: Mapped[Hex64]
    file_path: Mapped[str | None] = mapped_column(String(1024))
    file_size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    origin_node: Mapped[str | None] = mapped_column(String(64))
    search_vector: Mapped[str | None] = mapped_column(TSVECTOR, deferred=True, deferred_raiseload=True)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ImportedFile(Base):
    """A file imported from disk by ``soundtime import``: what it was when read, to skip it when unchanged.

    ``path`` holds the file system's bytes (``os.fsencode``): file names need not be valid UTF-8.
    """

    __tablename__ = "imported_files"

    path: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[Hex64] = mapped_column(index=True)
    imported_at: Mapped[CreatedAt]


Index("ix_artists_sort", func.lower(Artist.name), Artist.id)
Index("ix_albums_sort", func.lower(Album.title), Album.id)
Index("ix_tracks_artist_title", Track.artist_id, func.lower(Track.title), Track.id)
