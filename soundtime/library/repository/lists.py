"""The library's lists, page by page: keyset cursors over btree indexes, so a deep page costs what the first does.
Statements are built once (their compiled form and cache key are reused)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, func, tuple_
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
from soundtime.models import Album, Artist, Track

_ID = Track.id.type
_LIMIT = bindparam("limit", type_=Integer)


def _keyset(stmt: Select[Any], key: Any, key_type: Any, *, descending: bool = False) -> tuple[Select[Any], Select[Any]]:
    """``stmt`` in (``key``, id) order, ``:limit`` rows: (the first page, the page after ``:key`` and ``:id``); the id
    is the first column ``stmt`` selects."""
    id_column = stmt.selected_columns[0]
    after = tuple_(bindparam("key", type_=key_type), bindparam("id", type_=_ID))
    if descending:
        first = stmt.order_by(key.desc(), id_column.desc()).limit(_LIMIT)
        return first, first.where(tuple_(key, id_column) < after)
    first = stmt.order_by(key, id_column).limit(_LIMIT)
    return first, first.where(tuple_(key, id_column) > after)


async def _page(
    session: AsyncSession, pages: tuple[Select[Any], Select[Any]], after: tuple[Any, uuid.UUID] | None, **values: Any
) -> Sequence[Any]:
    """The rows of a page of :func:`_keyset` statements: the first, or the one after the cursor ``after``."""
    if after is None:
        return list(await session.execute(pages[0], values))
    return list(await session.execute(pages[1], {**values, "key": after[0], "id": after[1]}))


_NEWEST_TRACKS = _keyset(track_select(), Track.created_at, Track.created_at.type, descending=True)
_TRACK_SORT_KEY = func.lower(Track.title)
_ARTIST_TRACKS = _keyset(
    track_select().add_columns(_TRACK_SORT_KEY).where(Track.artist_id == bindparam("artist")), _TRACK_SORT_KEY, String()
)
_ALBUMS = _keyset(album_select(), func.lower(Album.title), String())
_ARTISTS = _keyset(artist_select(), func.lower(Artist.name), String())


async def list_tracks(session: AsyncSession, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[TrackRow]:
    """Newest tracks first, ``limit`` of them after the keyset cursor ``after``."""
    return [track_row(row) for row in await _page(session, _NEWEST_TRACKS, after, limit=limit)]


async def artist_tracks(
    session: AsyncSession, artist_id: uuid.UUID, limit: int, after: tuple[str, uuid.UUID] | None = None
) -> list[tuple[TrackRow, str]]:
    """Tracks performed by an artist by title (case-insensitive) then id, ``limit`` of them after the keyset
    cursor ``after``; each with its sort key (the database's ``lower(title)``, which cursors must use)."""
    rows = await _page(session, _ARTIST_TRACKS, after, artist=artist_id, limit=limit)
    return [(track_row(row), row[-1]) for row in rows]


async def list_albums(session: AsyncSession, limit: int, after: tuple[str, uuid.UUID] | None) -> list[AlbumRow]:
    """Albums by title (case-insensitive), ``limit`` of them after ``after``."""
    return [album_row(row) for row in await _page(session, _ALBUMS, after, limit=limit)]


async def list_artists(session: AsyncSession, limit: int, after: tuple[str, uuid.UUID] | None) -> list[ArtistRow]:
    """Artists by name (case-insensitive), ``limit`` of them after ``after``."""
    return [artist_row(row) for row in await _page(session, _ARTISTS, after, limit=limit)]
