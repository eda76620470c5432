"""One track, album or artist with what its page shows, rows by ids, and covers. Statements are built once (their
compiled form and cache key are reused)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.library.repository.rows import (
    AlbumRow,
    ArtistRow,
    TrackRow,
    album_row,
    album_select,
    artist_row,
    artist_select,
    track_row,
    track_select,
)
from soundtime.models import Album, Artist, Cover, Track

_TRACK_BY_ID = track_select().where(Track.id == bindparam("id"))
_TRACKS_BY_IDS = track_select().where(Track.id.in_(bindparam("ids", expanding=True)))
_ALBUM_TRACKS = (
    track_select()
    .where(Track.album_id == bindparam("album"))
    .order_by(
        Track.disc_number.asc().nulls_last(), Track.track_number.asc().nulls_last(), func.lower(Track.title), Track.id
    )
)
_ALBUM_BY_ID = album_select().where(Album.id == bindparam("id"))
_ALBUMS_BY_IDS = album_select().where(Album.id.in_(bindparam("ids", expanding=True)))
_ALBUMS_OF_ARTIST = (
    album_select()
    .where(Album.artist_id == bindparam("artist"))
    .order_by(Album.year.desc().nulls_last(), func.lower(Album.title), Album.id)
)
_ARTIST_BY_ID = artist_select().where(Artist.id == bindparam("id"))
_ARTISTS_BY_IDS = artist_select().where(Artist.id.in_(bindparam("ids", expanding=True)))


async def _by_ids(session: AsyncSession, stmt: Select[Any], ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    """The rows of ``stmt`` (which takes ``:ids``) for these ids; none, without a query, for no ids."""
    return (await session.execute(stmt, {"ids": list(ids)})).all() if ids else []


async def get_track(session: AsyncSession, track_id: uuid.UUID) -> TrackRow | None:
    """One track with its artist and album."""
    row = (await session.execute(_TRACK_BY_ID, {"id": track_id})).first()
    return track_row(row) if row is not None else None


async def tracks_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TrackRow]:
    """{id: row} for the given track ids."""
    rows = [track_row(row) for row in await _by_ids(session, _TRACKS_BY_IDS, ids)]
    return {row.track.id: row for row in rows}


async def album_tracks(session: AsyncSession, album_id: uuid.UUID) -> list[TrackRow]:
    """The tracks of an album in disc, track and title order."""
    return [track_row(row) for row in await session.execute(_ALBUM_TRACKS, {"album": album_id})]


async def get_album(session: AsyncSession, album_id: uuid.UUID) -> AlbumRow | None:
    """One album with its artist and track count."""
    row = (await session.execute(_ALBUM_BY_ID, {"id": album_id})).first()
    return album_row(row) if row is not None else None


async def albums_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AlbumRow]:
    """{id: row} for the given album ids."""
    rows = [album_row(row) for row in await _by_ids(session, _ALBUMS_BY_IDS, ids)]
    return {row.album.id: row for row in rows}


async def albums_of_artist(session: AsyncSession, artist_id: uuid.UUID) -> list[AlbumRow]:
    """Albums whose album artist is ``artist_id``, newest year first."""
    return [album_row(row) for row in await session.execute(_ALBUMS_OF_ARTIST, {"artist": artist_id})]


async def get_artist(session: AsyncSession, artist_id: uuid.UUID) -> ArtistRow | None:
    """One artist with counts."""
    row = (await session.execute(_ARTIST_BY_ID, {"id": artist_id})).first()
    return artist_row(row) if row is not None else None


async def artists_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ArtistRow]:
    """{id: row} for the given artist ids."""
    rows = [artist_row(row) for row in await _by_ids(session, _ARTISTS_BY_IDS, ids)]
    return {row.artist.id: row for row in rows}


async def artist_exists(session: AsyncSession, artist_id: uuid.UUID) -> bool:
    """Whether the artist is in the library."""
    return (await session.execute(select(Artist.id).where(Artist.id == artist_id))).first() is not None


async def cover_of_album(session: AsyncSession, album_id: uuid.UUID) -> Cover | None:
    """The cover row of an album, if it has one."""
    stmt = select(Cover).join(Album, Album.cover_hash == Cover.hash).where(Album.id == album_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def cover_of_track(session: AsyncSession, track_id: uuid.UUID) -> Cover | None:
    """The cover of the album a track belongs to."""
    stmt = (
        select(Cover)
        .join(Album, Album.cover_hash == Cover.hash)
        .join(Track, Track.album_id == Album.id)
        .where(Track.id == track_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
