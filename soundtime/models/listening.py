"""What each listener keeps: playlists, stars and ratings, play history and the saved play queue."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from soundtime.models.base import Base, CreatedAt, UuidPk


class Playlist(Base):
    """A named, ordered list of tracks owned by one user; others can read it when it is public."""

    __tablename__ = "playlists"
    __table_args__ = (
        CheckConstraint("length(name) BETWEEN 1 AND 255", name="name_length"),
        Index("ix_playlists_owner_name", "owner_id", text("lower(name)"), "id"),
        Index("ix_playlists_public", "public", postgresql_where=text("public")),
    )

    id: Mapped[UuidPk]
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PlaylistEntry(Base):
    """One slot of a playlist; ``position`` orders the slots (gaps are allowed, a track may repeat)."""

    __tablename__ = "playlist_entries"
    __table_args__ = (CheckConstraint("position >= 0", name="position_nonnegative"),)

    playlist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)


def _annotation_checks() -> tuple[CheckConstraint, ...]:
    return (
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("play_count >= 0", name="play_count_nonnegative"),
    )


class _Annotation:
    """The columns every annotation table has: whose it is, the star, the rating and the play count."""

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    starred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    play_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_played_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def _starred_index(table: str) -> Index:
    return Index(f"ix_{table}_starred", "user_id", "starred_at", postgresql_where=text("starred_at IS NOT NULL"))


class TrackAnnotation(_Annotation, Base):
    """A user's star, rating and play count of a track."""

    __tablename__ = "track_annotations"
    __table_args__ = (
        *_annotation_checks(),
        _starred_index("track_annotations"),
        Index("ix_track_annotations_played", "user_id", "play_count", postgresql_where=text("play_count > 0")),
    )

    track_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AlbumAnnotation(_Annotation, Base):
    """A user's star, rating and play count of an album (a play of any of its tracks counts)."""

    __tablename__ = "album_annotations"
    __table_args__ = (
        *_annotation_checks(),
        _starred_index("album_annotations"),
        Index("ix_album_annotations_played", "user_id", "last_played_at", postgresql_where=text("play_count > 0")),
    )

    album_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ArtistAnnotation(_Annotation, Base):
    """A user's star and rating of an artist, and how often tracks performed by them were played."""

    __tablename__ = "artist_annotations"
    __table_args__ = (*_annotation_checks(), _starred_index("artist_annotations"))

    artist_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Play(Base):
    """One listen (a scrobble): the history behind "recently played". Kept per user up to a bound."""

    __tablename__ = "plays"
    __table_args__ = (Index("ix_plays_user_recent", "user_id", "played_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    played_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    client: Mapped[str | None] = mapped_column(String(64))


class PlayQueue(Base):
    """The play queue a user saved, so another device can resume it where it stopped."""

    __tablename__ = "play_queues"
    __table_args__ = (CheckConstraint("position_ms >= 0", name="position_nonnegative"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    #: The ``position`` of the entry being played (NULL: none).
    current_position: Mapped[int | None] = mapped_column(Integer)
    #: How far into that entry playback was, in milliseconds.
    position_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    changed_at: Mapped[CreatedAt]
    #: The client application that saved it (Subsonic ``c``, or "web").
    changed_by: Mapped[str] = mapped_column(String(64))


class PlayQueueEntry(Base):
    """One slot of a saved play queue."""

    __tablename__ = "play_queue_entries"
    __table_args__ = (CheckConstraint("position >= 0", name="position_nonnegative"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("play_queues.user_id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
