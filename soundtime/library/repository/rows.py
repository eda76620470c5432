"""The rows lists, details and search read: plain value objects (not ORM entities), and the statements that select
them with their artist, album and counts. Callers add conditions, orders and columns (added columns come after the
row's own)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from soundtime.models import Album, Artist, Track

AlbumArtist = aliased(Artist, name="album_artist")


@dataclass(frozen=True, slots=True)
class TrackColumns:
    """The columns of a track that lists, details and search hits show (read as plain values, not ORM objects:
    a page of 50 tracks costs a fraction of the CPU)."""

    id: uuid.UUID
    title: str
    track_number: int | None
    disc_number: int | None
    year: int | None
    genre: str | None
    duration_secs: float
    format: str
    bitrate_kbps: int | None
    sample_rate: int | None
    channels: int | None
    content_hash: str
    file_size: int
    origin_node: str | None
    uploaded_by: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArtistName:
    """An artist as other rows refer to it."""

    id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class AlbumName:
    """An album as a track refers to it."""

    id: uuid.UUID
    title: str
    cover_hash: str | None


@dataclass(frozen=True, slots=True)
class AlbumColumns:
    """The columns of an album that lists and details show."""

    id: uuid.UUID
    title: str
    year: int | None
    genre: str | None
    cover_hash: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TrackRow:
    """A track with its artist, album and album artist, as lists and details need them."""

    track: TrackColumns
    artist: ArtistName
    album: AlbumName | None
    album_artist: ArtistName | None


@dataclass(frozen=True, slots=True)
class AlbumRow:
    """An album with its artist and track count; ``sort_key`` is the database's ``lower(title)``."""

    album: AlbumColumns
    artist: ArtistName
    track_count: int
    sort_key: str


@dataclass(frozen=True, slots=True)
class ArtistRow:
    """An artist with counts; ``sort_key`` is the database's ``lower(name)`` (cursors must use its value)."""

    artist: ArtistName
    album_count: int
    track_count: int
    sort_key: str


_TRACK_COLUMNS = tuple(getattr(Track, column.name) for column in fields(TrackColumns))
_ALBUM_COLUMNS = tuple(getattr(Album, column.name) for column in fields(AlbumColumns))
_T = len(_TRACK_COLUMNS)
_A = len(_ALBUM_COLUMNS)


def track_select() -> Select[Any]:
    """Tracks with their artist, album and album artist: the columns :func:`track_row` reads (more may follow)."""
    return (
        select(*_TRACK_COLUMNS, Artist.id, Artist.name, Album.id, Album.title, Album.cover_hash)
        .add_columns(AlbumArtist.id, AlbumArtist.name)
        .join(Artist, Artist.id == Track.artist_id)
        .outerjoin(Album, Album.id == Track.album_id)
        .outerjoin(AlbumArtist, AlbumArtist.id == Album.artist_id)
    )


def track_row(row: Sequence[Any]) -> TrackRow:
    """The track of a row of :func:`track_select` (columns added after its own are left to the caller)."""
    album = AlbumName(row[_T + 2], row[_T + 3], row[_T + 4]) if row[_T + 2] is not None else None
    album_artist = ArtistName(row[_T + 5], row[_T + 6]) if row[_T + 5] is not None else None
    return TrackRow(TrackColumns(*row[:_T]), ArtistName(row[_T], row[_T + 1]), album, album_artist)


def album_select() -> Select[Any]:
    """Albums with their artist, track count and sort key: the columns :func:`album_row` reads."""
    track_count = select(func.count()).where(Track.album_id == Album.id).correlate(Album).scalar_subquery().label("n")
    sort_key = func.lower(Album.title).label("sort_key")
    return select(*_ALBUM_COLUMNS, Artist.id, Artist.name, track_count, sort_key).join(
        Artist, Artist.id == Album.artist_id
    )


def album_row(row: Sequence[Any]) -> AlbumRow:
    """The album of a row of :func:`album_select`."""
    return AlbumRow(AlbumColumns(*row[:_A]), ArtistName(row[_A], row[_A + 1]), row[_A + 2], row[_A + 3])


def artist_select() -> Select[Any]:
    """Artists with album and track counts and sort key: the columns :func:`artist_row` reads."""
    albums = select(func.count()).where(Album.artist_id == Artist.id).correlate(Artist).scalar_subquery()
    tracks = select(func.count()).where(Track.artist_id == Artist.id).correlate(Artist).scalar_subquery()
    sort_key = func.lower(Artist.name).label("sort_key")
    return select(Artist.id, Artist.name, albums.label("albums"), tracks.label("tracks"), sort_key)


def artist_row(row: Sequence[Any]) -> ArtistRow:
    """The artist of a row of :func:`artist_select`."""
    return ArtistRow(ArtistName(row[0], row[1]), row[2], row[3], row[4])
