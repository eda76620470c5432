"""The reads behind the Subsonic views: songs, albums and artists as plain rows with the caller's annotations
(star, rating, play count), and the orders Subsonic asks for (album lists by type, random songs, the whole library
page by page). Read-only: every change goes through the listening and library features."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BindParameter,
    Integer,
    Select,
    Subquery,
    and_,
    any_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from soundtime.models import Album, AlbumAnnotation, Artist, ArtistAnnotation, Track, TrackAnnotation
from soundtime.search import repository as search

AlbumArtist = aliased(Artist, name="album_artist")
#: The caller (statements built once take it as a parameter) and a list of row ids (one array parameter: one
#: prepared statement whatever the number of ids).
_USER = bindparam("user", type_=Track.id.type)
_IDS = bindparam("ids", type_=ARRAY(Track.id.type))


def _artist_order() -> Any:
    """SQL: (id, position) of every artist in index order. Lists sorted by artist join it, so the sort key (a
    regular expression) is computed once per artist rather than once per album or track: 2-4x faster at 20,000
    albums of 5,000 artists."""
    position = func.row_number().over(order_by=(Artist.index_key, Artist.id))
    return select(Artist.id, position.label("position")).cte("artist_order")


@dataclass(frozen=True, slots=True)
class SongRow:
    """A track as a Subsonic ``Child``, with the caller's annotation."""

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
    file_size: int
    created_at: datetime
    album_id: uuid.UUID | None
    album_title: str | None
    has_cover: bool
    artist_id: uuid.UUID
    artist_name: str
    album_artist_name: str | None
    origin_node: str | None
    starred_at: datetime | None
    rating: int | None
    play_count: int | None
    last_played_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlbumRow:
    """An album as a Subsonic ``AlbumID3``, with the caller's annotation."""

    id: uuid.UUID
    title: str
    artist_id: uuid.UUID
    artist_name: str
    year: int | None
    genre: str | None
    has_cover: bool
    created_at: datetime
    song_count: int
    duration_secs: float
    starred_at: datetime | None
    rating: int | None
    play_count: int | None
    last_played_at: datetime | None


@dataclass(frozen=True, slots=True)
class ArtistRow:
    """An artist as a Subsonic ``ArtistID3``, with the caller's annotation."""

    id: uuid.UUID
    name: str
    album_count: int
    has_cover: bool
    starred_at: datetime | None
    rating: int | None


# --- songs ---------------------------------------------------------------------------------------------------


def _songs(user_id: uuid.UUID | BindParameter[Any]) -> Any:
    annotation = and_(TrackAnnotation.track_id == Track.id, TrackAnnotation.user_id == user_id)
    return (
        select(
            Track.id,
            Track.title,
            Track.track_number,
            Track.disc_number,
            Track.year,
            Track.genre,
            Track.duration_secs,
            Track.format,
            Track.bitrate_kbps,
            Track.sample_rate,
            Track.channels,
            Track.file_size,
            Track.created_at,
            Track.album_id,
            Album.title,
            Album.cover_hash.is_not(None),
            Track.artist_id,
            Artist.name,
            AlbumArtist.name,
            Track.origin_node,
            TrackAnnotation.starred_at,
            TrackAnnotation.rating,
            TrackAnnotation.play_count,
            TrackAnnotation.last_played_at,
        )
        .join(Artist, Artist.id == Track.artist_id)
        .outerjoin(Album, Album.id == Track.album_id)
        .outerjoin(AlbumArtist, AlbumArtist.id == Album.artist_id)
        .outerjoin(TrackAnnotation, annotation)
    )


_SONGS_BY_IDS = _songs(_USER).where(Track.id == any_(_IDS))


async def _song_rows(session: AsyncSession, stmt: Select[Any], values: dict[str, Any] | None = None) -> list[SongRow]:
    return [SongRow(*row) for row in await session.execute(stmt, values)]


_ALBUM_ORDER = (Track.disc_number.asc().nulls_last(), Track.track_number.asc().nulls_last(), func.lower(Track.title))


async def songs_by_ids(session: AsyncSession, user_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SongRow]:
    """{id: song} of the tracks among ``ids`` that exist."""
    unique = list(set(ids))
    if not unique:
        return {}
    return {row.id: row for row in await _song_rows(session, _SONGS_BY_IDS, {"user": user_id, "ids": unique})}


async def _songs_in_order(session: AsyncSession, user_id: uuid.UUID, ids: Select[Any]) -> list[SongRow]:
    """The songs whose ids ``ids`` selects, in its order: the page is found on the track table alone (an index
    walk), then only its rows are joined with artists, albums and annotations."""
    picked = list((await session.execute(ids)).scalars())
    found = await songs_by_ids(session, user_id, picked)
    return [found[track] for track in picked if track in found]


async def album_songs(session: AsyncSession, user_id: uuid.UUID, album_id: uuid.UUID) -> list[SongRow]:
    """An album's tracks in disc and track order."""
    stmt = _songs(user_id).where(Track.album_id == album_id).order_by(*_ALBUM_ORDER, Track.id)
    return await _song_rows(session, stmt)


async def loose_songs(session: AsyncSession, user_id: uuid.UUID, artist_id: uuid.UUID, limit: int) -> list[SongRow]:
    """Tracks of an artist that belong to no album (shown in the artist's folder), by title."""
    stmt = (
        _songs(user_id)
        .where(Track.artist_id == artist_id, Track.album_id.is_(None))
        .order_by(func.lower(Track.title), Track.id)
        .limit(limit)
    )
    return await _song_rows(session, stmt)


async def artist_top_songs(
    session: AsyncSession, user_id: uuid.UUID, artist_id: uuid.UUID, limit: int
) -> list[SongRow]:
    """An artist's tracks, the caller's most played first, then by title."""
    stmt = (
        _songs(user_id)
        .where(Track.artist_id == artist_id)
        .order_by(func.coalesce(TrackAnnotation.play_count, 0).desc(), func.lower(Track.title), Track.id)
        .limit(limit)
    )
    return await _song_rows(session, stmt)


def _year_genre(stmt: Select[Any], genre: str | None, from_year: int | None, to_year: int | None) -> Select[Any]:
    if genre:
        stmt = stmt.where(func.lower(Track.genre) == genre.lower())
    if from_year is not None:
        stmt = stmt.where(Track.year >= from_year)
    if to_year is not None:
        stmt = stmt.where(Track.year <= to_year)
    return stmt


_RANDOM_PICKS = text(
    "SELECT coalesce(t.id, (SELECT id FROM tracks ORDER BY id LIMIT 1)) "
    "FROM unnest(CAST(:starts AS uuid[])) AS s(start) "
    "LEFT JOIN LATERAL (SELECT id FROM tracks WHERE id >= s.start ORDER BY id LIMIT 1) AS t ON true"
)


async def random_songs(
    session: AsyncSession,
    user_id: uuid.UUID,
    size: int,
    *,
    genre: str | None = None,
    from_year: int | None = None,
    to_year: int | None = None,
) -> list[SongRow]:
    """``size`` random tracks (fewer in a small library).

    Without filters, each pick is the first track at or after a random UUID (track ids are random UUIDs, so the
    picks spread over the whole library): a few index probes rather than a sort of every track. A small library
    gives repeated picks; what is still missing is then drawn by shuffling all tracks (cheap when they are few).
    With a genre or years, the matching tracks are shuffled.
    """
    if genre or from_year is not None or to_year is not None:
        stmt = _year_genre(_songs(user_id), genre, from_year, to_year).order_by(func.random()).limit(size)
        return await _song_rows(session, stmt)
    starts = [uuid.uuid4() for _ in range(size * 2)]
    picks = [pick for pick in (await session.execute(_RANDOM_PICKS, {"starts": starts})).scalars() if pick]
    picked = list(dict.fromkeys(picks))[:size]
    if len(picked) < size:
        shuffled = await session.execute(select(Track.id).order_by(func.random()).limit(size * 2))
        picked = list(dict.fromkeys([*picked, *shuffled.scalars()]))[:size]
    found = await songs_by_ids(session, user_id, picked)
    return [found[track] for track in picked if track in found]


async def songs_by_genre(
    session: AsyncSession, user_id: uuid.UUID, genre: str, count: int, offset: int
) -> list[SongRow]:
    """Tracks of a genre (case-insensitive), by artist, album and track order."""
    artists = _artist_order()
    ids = (
        select(Track.id)
        .join(artists, artists.c.id == Track.artist_id)
        .where(func.lower(Track.genre) == genre.lower())
        .order_by(artists.c.position, Track.album_id, *_ALBUM_ORDER, Track.id)
        .limit(count)
        .offset(offset)
    )
    return await _songs_in_order(session, user_id, ids)


async def starred_songs(session: AsyncSession, user_id: uuid.UUID, limit: int) -> list[SongRow]:
    """The caller's starred tracks, most recently starred first."""
    stmt = (
        _songs(user_id)
        .where(TrackAnnotation.starred_at.is_not(None))
        .order_by(TrackAnnotation.starred_at.desc(), Track.id)
        .limit(limit)
    )
    return await _song_rows(session, stmt)


async def songs_after(
    session: AsyncSession, user_id: uuid.UUID, count: int, after: uuid.UUID | None, offset: int
) -> list[SongRow]:
    """The whole library in id order (a stable order for clients that page through everything): ``count`` tracks
    after the track ``after``, or, without it, from ``offset``."""
    ids = select(Track.id).order_by(Track.id).limit(count)
    ids = ids.where(Track.id > after) if after is not None else ids.offset(offset)
    return await _songs_in_order(session, user_id, ids)


# --- albums --------------------------------------------------------------------------------------------------


def _albums(user_id: uuid.UUID | BindParameter[Any]) -> Any:
    counts = (
        select(
            func.count().label("songs"),
            func.coalesce(func.sum(Track.duration_secs), 0.0).label("duration"),
        )
        .where(Track.album_id == Album.id)
        .correlate(Album)
        .lateral("counts")
    )
    annotation = and_(AlbumAnnotation.album_id == Album.id, AlbumAnnotation.user_id == user_id)
    return (
        select(
            Album.id,
            Album.title,
            Album.artist_id,
            Artist.name,
            Album.year,
            Album.genre,
            Album.cover_hash.is_not(None),
            Album.created_at,
            counts.c.songs,
            counts.c.duration,
            AlbumAnnotation.starred_at,
            AlbumAnnotation.rating,
            AlbumAnnotation.play_count,
            AlbumAnnotation.last_played_at,
        )
        .join(Artist, Artist.id == Album.artist_id)
        .join(counts, true())
        .outerjoin(AlbumAnnotation, annotation)
    )


_ALBUMS_BY_IDS = _albums(_USER).where(Album.id == any_(_IDS))


async def _album_rows(session: AsyncSession, stmt: Select[Any], values: dict[str, Any] | None = None) -> list[AlbumRow]:
    return [_album_row(row) for row in await session.execute(stmt, values)]


def _album_row(row: Any) -> AlbumRow:
    values = list(row)
    values[8], values[9] = int(values[8]), float(values[9])
    return AlbumRow(*values)


async def albums_by_ids(
    session: AsyncSession, user_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, AlbumRow]:
    """{id: album} of the albums among ``ids`` that exist."""
    unique = list(set(ids))
    if not unique:
        return {}
    return {row.id: row for row in await _album_rows(session, _ALBUMS_BY_IDS, {"user": user_id, "ids": unique})}


async def _albums_in_order(session: AsyncSession, user_id: uuid.UUID, ids: Select[Any]) -> list[AlbumRow]:
    """The albums whose ids ``ids`` selects, in its order (counted and annotated for that page only)."""
    picked = list((await session.execute(ids)).scalars())
    found = await albums_by_ids(session, user_id, picked)
    return [found[album] for album in picked if album in found]


async def artist_albums(session: AsyncSession, user_id: uuid.UUID, artist_id: uuid.UUID) -> list[AlbumRow]:
    """The albums an artist is the album artist of, oldest year first, then by title."""
    stmt = (
        _albums(user_id)
        .where(Album.artist_id == artist_id)
        .order_by(Album.year.asc().nulls_last(), func.lower(Album.title), Album.id)
    )
    return await _album_rows(session, stmt)


ListType = Literal[
    "random",
    "newest",
    "highest",
    "frequent",
    "recent",
    "alphabeticalByName",
    "alphabeticalByArtist",
    "starred",
    "byYear",
    "byGenre",
]


async def album_list(
    session: AsyncSession,
    user_id: uuid.UUID,
    kind: ListType,
    size: int,
    offset: int,
    *,
    from_year: int | None = None,
    to_year: int | None = None,
    genre: str | None = None,
) -> list[AlbumRow]:
    """A page of albums in the order ``kind`` asks for (Subsonic's getAlbumList2 types)."""
    ids = select(Album.id)
    if kind == "random":
        return await _albums_in_order(session, user_id, ids.order_by(func.random()).limit(size))
    mine = and_(AlbumAnnotation.album_id == Album.id, AlbumAnnotation.user_id == user_id)
    if kind in ("highest", "frequent", "recent", "starred"):
        ids = ids.join(AlbumAnnotation, mine)
    if kind == "newest":
        ids = ids.order_by(Album.created_at.desc(), Album.id.desc())
    elif kind == "alphabeticalByName":
        ids = ids.order_by(func.lower(Album.title), Album.id)
    elif kind == "alphabeticalByArtist":
        # In the order of ix_artists_index_key, each artist's albums from ix_albums_artist_id: a first page reads
        # its few rows (the planner sorts within each artist), not every album.
        by_artist = (Artist.index_key, Artist.id, Album.year.asc().nulls_last(), func.lower(Album.title))
        ids = ids.join(Artist, Artist.id == Album.artist_id).order_by(*by_artist, Album.id)
    elif kind == "highest":
        ids = ids.where(AlbumAnnotation.rating.is_not(None))
        ids = ids.order_by(AlbumAnnotation.rating.desc(), func.lower(Album.title), Album.id)
    elif kind == "frequent":
        ids = ids.where(AlbumAnnotation.play_count > 0)
        ids = ids.order_by(AlbumAnnotation.play_count.desc(), AlbumAnnotation.last_played_at.desc(), Album.id)
    elif kind == "recent":
        ids = ids.where(AlbumAnnotation.last_played_at.is_not(None))
        ids = ids.order_by(AlbumAnnotation.last_played_at.desc(), Album.id)
    elif kind == "starred":
        ids = ids.where(AlbumAnnotation.starred_at.is_not(None))
        ids = ids.order_by(AlbumAnnotation.starred_at.desc(), Album.id)
    elif kind == "byYear":
        low, high = sorted((from_year or 0, to_year if to_year is not None else 9999))
        descending = from_year is not None and to_year is not None and from_year > to_year
        year = Album.year.desc() if descending else Album.year.asc()
        ids = ids.where(Album.year.between(low, high)).order_by(year, func.lower(Album.title), Album.id)
    else:  # byGenre
        ids = ids.where(func.lower(Album.genre) == (genre or "").lower())
        ids = ids.order_by(func.lower(Album.title), Album.id)
    return await _albums_in_order(session, user_id, ids.limit(size).offset(offset))


async def albums_after(
    session: AsyncSession, user_id: uuid.UUID, count: int, after: uuid.UUID | None, offset: int
) -> list[AlbumRow]:
    """Every album in id order (see :func:`songs_after`)."""
    ids = select(Album.id).order_by(Album.id).limit(count)
    ids = ids.where(Album.id > after) if after is not None else ids.offset(offset)
    return await _albums_in_order(session, user_id, ids)


async def stream_source(session: AsyncSession, track_id: uuid.UUID) -> tuple[str, int | None] | None:
    """(format, bitrate in kbps) of a track's stored audio, or None when there is no such track."""
    row = (await session.execute(select(Track.format, Track.bitrate_kbps).where(Track.id == track_id))).one_or_none()
    return None if row is None else (row[0], row[1])


async def album_of_track(session: AsyncSession, track_id: uuid.UUID) -> uuid.UUID | None:
    """The album a track belongs to."""
    return (await session.execute(select(Track.album_id).where(Track.id == track_id))).scalar_one_or_none()


# --- artists -------------------------------------------------------------------------------------------------


def _artists(user_id: uuid.UUID | BindParameter[Any]) -> Any:
    album_count = select(func.count()).where(Album.artist_id == Artist.id).correlate(Artist).scalar_subquery()
    has_cover = exists().where(Album.artist_id == Artist.id, Album.cover_hash.is_not(None)).correlate(Artist)
    annotation = and_(ArtistAnnotation.artist_id == Artist.id, ArtistAnnotation.user_id == user_id)
    return select(
        Artist.id, Artist.name, album_count, has_cover, ArtistAnnotation.starred_at, ArtistAnnotation.rating
    ).outerjoin(ArtistAnnotation, annotation)


def _listed() -> Any:
    """Artists shown in the index: album artists, and performers of tracks that have no album."""
    return or_(
        exists().where(Album.artist_id == Artist.id).correlate(Artist),
        exists().where(Track.artist_id == Artist.id, Track.album_id.is_(None)).correlate(Artist),
    )


_ARTISTS_BY_IDS = _artists(_USER).where(Artist.id == any_(_IDS))


async def _artist_rows(
    session: AsyncSession, stmt: Select[Any], values: dict[str, Any] | None = None
) -> list[ArtistRow]:
    rows = await session.execute(stmt, values)
    return [ArtistRow(row[0], row[1], int(row[2]), bool(row[3]), row[4], row[5]) for row in rows]


async def index_artists(session: AsyncSession, user_id: uuid.UUID) -> list[ArtistRow]:
    """Every artist of the index (unsorted: the caller sorts by name without articles)."""
    return await _artist_rows(session, _artists(user_id).where(_listed()))


async def artists_by_ids(
    session: AsyncSession, user_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ArtistRow]:
    """{id: artist} of the artists among ``ids`` that exist."""
    unique = list(set(ids))
    if not unique:
        return {}
    values = {"user": user_id, "ids": unique}
    return {row.id: row for row in await _artist_rows(session, _ARTISTS_BY_IDS, values)}


async def artists_after(
    session: AsyncSession, user_id: uuid.UUID, count: int, after: uuid.UUID | None, offset: int
) -> list[ArtistRow]:
    """Every artist of the index in id order (see :func:`songs_after`)."""
    ids = select(Artist.id).where(_listed()).order_by(Artist.id).limit(count)
    ids = ids.where(Artist.id > after) if after is not None else ids.offset(offset)
    picked = list((await session.execute(ids)).scalars())
    found = await artists_by_ids(session, user_id, picked)
    return [found[artist] for artist in picked if artist in found]


async def starred_albums(session: AsyncSession, user_id: uuid.UUID, limit: int) -> list[AlbumRow]:
    """The caller's starred albums, most recently starred first."""
    stmt = _albums(user_id).where(AlbumAnnotation.starred_at.is_not(None))
    return await _album_rows(session, stmt.order_by(AlbumAnnotation.starred_at.desc(), Album.id).limit(limit))


async def starred_artists(session: AsyncSession, user_id: uuid.UUID, limit: int) -> list[ArtistRow]:
    """The caller's starred artists, most recently starred first."""
    stmt = _artists(user_id).where(ArtistAnnotation.starred_at.is_not(None))
    return await _artist_rows(session, stmt.order_by(ArtistAnnotation.starred_at.desc(), Artist.id).limit(limit))


# --- text search ---------------------------------------------------------------------------------------------
# The library search's ranked matches (soundtime.search.repository) joined directly to the Subsonic columns: one
# statement per kind, built once (the caller's id is a parameter).

_OFFSET = bindparam("offset", type_=Integer)
_COUNT = bindparam("count", type_=Integer)


def _best(stmt: Select[Any], ranked: Subquery) -> Select[Any]:
    matched = stmt.join(ranked, ranked.c.id == stmt.selected_columns[0])
    return matched.order_by(*search.in_rank_order(ranked)).offset(_OFFSET).limit(_COUNT)


_BEST_SONGS = _best(_songs(_USER), search.RANKED_TRACKS)
_BEST_ALBUMS = _best(_albums(_USER), search.RANKED_ALBUMS)
_BEST_ARTISTS = _best(_artists(_USER), search.RANKED_ARTISTS)


async def _matching(session: AsyncSession, user_id: uuid.UUID, text: str, offset: int, count: int) -> dict[str, Any]:
    await search.plan_with_values(session)
    return {**search.search_values(text, offset + count), "user": user_id, "offset": offset, "count": count}


async def best_songs(session: AsyncSession, user_id: uuid.UUID, text: str, offset: int, count: int) -> list[SongRow]:
    """Songs ``offset`` to ``offset + count`` of the matches of the search box's ``text``, ranked as the library
    search ranks them."""
    return await _song_rows(session, _BEST_SONGS, await _matching(session, user_id, text, offset, count))


async def best_albums(session: AsyncSession, user_id: uuid.UUID, text: str, offset: int, count: int) -> list[AlbumRow]:
    """Albums ``offset`` to ``offset + count`` of the matches of ``text`` (see :func:`best_songs`)."""
    return await _album_rows(session, _BEST_ALBUMS, await _matching(session, user_id, text, offset, count))


async def best_artists(
    session: AsyncSession, user_id: uuid.UUID, text: str, offset: int, count: int
) -> list[ArtistRow]:
    """Artists ``offset`` to ``offset + count`` of the matches of ``text`` (see :func:`best_songs`)."""
    return await _artist_rows(session, _BEST_ARTISTS, await _matching(session, user_id, text, offset, count))


# --- genres, covers, counts ----------------------------------------------------------------------------------


async def genres(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(genre, songs, albums) of every genre tracks carry, by name."""
    stmt = (
        select(Track.genre, func.count(), func.count(func.distinct(Track.album_id)))
        .where(Track.genre.is_not(None), Track.genre != "")
        .group_by(Track.genre)
        .order_by(func.lower(Track.genre), Track.genre)
    )
    return [(str(name), int(songs), int(albums)) for name, songs, albums in await session.execute(stmt)]


async def cover_album_of_artist(session: AsyncSession, artist_id: uuid.UUID) -> uuid.UUID | None:
    """An album of the artist that has a cover (the newest year first)."""
    stmt = (
        select(Album.id)
        .where(Album.artist_id == artist_id, Album.cover_hash.is_not(None))
        .order_by(Album.year.desc().nulls_last(), Album.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def last_modified(session: AsyncSession) -> datetime | None:
    """When the library last changed (for getIndexes' lastModified / ifModifiedSince)."""
    return (await session.execute(select(func.max(Track.updated_at)))).scalar_one_or_none()


async def song_by_hash(session: AsyncSession, user_id: uuid.UUID, digest: str) -> SongRow | None:
    """The track with this content hash, if the library holds it."""
    rows = await _song_rows(session, _songs(user_id).where(Track.content_hash == digest))
    return rows[0] if rows else None
