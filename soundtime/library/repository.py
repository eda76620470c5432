"""All SQL of the library: batched upserts for ingest, keyset-paginated lists, details and deletion."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from soundtime.models import Album, Artist, Cover, ImportedFile, Track

AlbumArtist = aliased(Artist, name="album_artist")
_LOCK_CLASS = 0x5354  # advisory-lock namespace of blob digests ("ST")
_FOREIGN_KEY_VIOLATIONS = {"23503", "23001"}  # foreign_key_violation, restrict_violation
_UPSERT_ATTEMPTS = 5


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


# --- locking -------------------------------------------------------------------------------------------------


def digest_lock_key(digest: str) -> int:
    """A signed 32-bit advisory-lock key for a hex digest."""
    value = int(digest[:8], 16)
    return value - (1 << 32) if value >= 1 << 31 else value


async def lock_digests(session: AsyncSession, digests: Iterable[str]) -> None:
    """Serialise, until the end of the transaction, every writer or remover of these blobs.

    Ingest (blob commit + row insert) and deletion (row delete + blob removal) both take these locks, so a
    blob is never removed between another transaction's check and its insert. Keys are taken in sorted order.
    """
    keys = sorted({digest_lock_key(d) for d in digests})
    if keys:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, k) FROM unnest(CAST(:keys AS int[])) AS k ORDER BY k"),
            {"cls": _LOCK_CLASS, "keys": keys},
        )


# --- ingest --------------------------------------------------------------------------------------------------


async def upsert_covers(session: AsyncSession, covers: Sequence[tuple[str, str, int]]) -> None:
    """Insert (hash, mime, size) cover rows that do not exist yet."""
    if covers:
        rows = [{"hash": h, "mime": m, "size": s} for h, m, s in dict.fromkeys(covers)]
        await session.execute(insert(Cover).on_conflict_do_nothing(index_elements=["hash"]), rows)


_INSERT_ARTISTS = text(
    "INSERT INTO artists (id, name) SELECT gen_random_uuid(), n FROM unnest(CAST(:names AS varchar[])) AS n "
    "ORDER BY n ON CONFLICT (name) DO NOTHING"
)
# FOR KEY SHARE: a concurrent clean-up cannot delete these rows before our rows refer to them (and if one
# committed just before, the rows are missing here and are created again).
_LOCK_ARTISTS = text(
    "SELECT a.name, a.id FROM artists a WHERE a.name = ANY(CAST(:names AS varchar[])) FOR KEY SHARE OF a"
)


async def upsert_artists(session: AsyncSession, names: Iterable[str]) -> dict[str, uuid.UUID]:
    """Ids of the artists with these exact names, creating the missing ones; the rows are locked FOR KEY SHARE."""
    unique = sorted(set(names))
    if not unique:
        return {}
    for _ in range(_UPSERT_ATTEMPTS):
        await session.execute(_INSERT_ARTISTS, {"names": unique})
        found: dict[str, uuid.UUID] = dict((await session.execute(_LOCK_ARTISTS, {"names": unique})).all())
        if len(found) == len(unique):
            return found
    raise RuntimeError("artists kept disappearing while being created")


@dataclass(frozen=True, slots=True)
class AlbumValues:
    """An album to find or create, with values used only when it is created (the cover also fills a gap)."""

    title: str
    artist_id: uuid.UUID
    year: int | None
    genre: str | None
    cover_hash: str | None


_INSERT_ALBUMS = text(
    "INSERT INTO albums (id, title, artist_id, year, genre, cover_hash) "
    "SELECT gen_random_uuid(), k.* FROM unnest(CAST(:titles AS varchar[]), CAST(:artists AS uuid[]), "
    "CAST(:years AS smallint[]), CAST(:genres AS varchar[]), CAST(:covers AS varchar[])) "
    "AS k(title, artist_id, year, genre, cover_hash) ORDER BY k.title, k.artist_id "
    "ON CONFLICT (title, artist_id) DO NOTHING"
)
# FOR KEY SHARE, as for artists; an album without a cover gets the batch's.
_LOCK_ALBUMS = text(
    "SELECT a.title, a.artist_id, a.id FROM albums a "
    "JOIN unnest(CAST(:titles AS varchar[]), CAST(:artists AS uuid[])) AS k(title, artist_id) "
    "ON a.title = k.title AND a.artist_id = k.artist_id FOR KEY SHARE OF a"
)
_FILL_COVERS = text(
    "UPDATE albums a SET cover_hash = k.cover_hash "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:covers AS varchar[])) AS k(id, cover_hash) "
    "WHERE a.id = k.id AND a.cover_hash IS NULL"
)


async def upsert_albums(session: AsyncSession, albums: Sequence[AlbumValues]) -> dict[tuple[str, uuid.UUID], uuid.UUID]:
    """Ids of albums by (title, album artist id), creating missing ones; an album without cover gets one.

    The rows are locked FOR KEY SHARE (see :func:`upsert_artists`); new rows are written in (title, artist) order,
    so concurrent upserts of the same albums do not deadlock. Existing albums are not locked for update unless
    a cover is given for them.
    """
    by_key: dict[tuple[str, uuid.UUID], AlbumValues] = {}
    for album in albums:
        known = by_key.get((album.title, album.artist_id))
        if known is None or (known.cover_hash is None and album.cover_hash is not None):
            by_key[(album.title, album.artist_id)] = album
    found: dict[tuple[str, uuid.UUID], uuid.UUID] = {}
    for _ in range(_UPSERT_ATTEMPTS):
        missing = [album for key, album in by_key.items() if key not in found]
        if not missing:
            break
        columns = {
            "titles": [a.title for a in missing],
            "artists": [a.artist_id for a in missing],
            "years": [a.year for a in missing],
            "genres": [a.genre for a in missing],
            "covers": [a.cover_hash for a in missing],
        }
        await session.execute(_INSERT_ALBUMS, columns)
        rows = await session.execute(_LOCK_ALBUMS, {"titles": columns["titles"], "artists": columns["artists"]})
        found.update({(title, artist_id): album_id for title, artist_id, album_id in rows})
    if len(found) != len(by_key):
        raise RuntimeError("albums kept disappearing while being created")
    covered = sorted((found[key], album.cover_hash) for key, album in by_key.items() if album.cover_hash)
    if covered:
        ids, covers = zip(*covered, strict=True)
        await session.execute(_FILL_COVERS, {"ids": list(ids), "covers": list(covers)})
    return found


async def album_covers(
    session: AsyncSession, keys: Sequence[tuple[str, uuid.UUID]]
) -> dict[tuple[str, uuid.UUID], str | None]:
    """{(title, album artist id): cover hash or None} of the albums among ``keys`` that exist."""
    if not keys:
        return {}
    stmt = select(Album.title, Album.artist_id, Album.cover_hash).where(
        tuple_(Album.title, Album.artist_id).in_(list(keys))
    )
    return {(title, artist_id): cover for title, artist_id, cover in await session.execute(stmt)}


async def insert_tracks(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, uuid.UUID]:
    """Insert tracks, skipping hashes that already exist; returns {content_hash: id} of the inserted ones."""
    if not rows:
        return {}
    stmt = insert(Track).on_conflict_do_nothing(index_elements=["content_hash"]).returning(Track.content_hash, Track.id)
    result = await session.execute(stmt, list(rows))
    return dict(result.all())


async def track_ids_by_hash(session: AsyncSession, digests: Iterable[str]) -> dict[str, uuid.UUID]:
    """{content_hash: track id} for the hashes that are in the library."""
    unique = list(set(digests))
    if not unique:
        return {}
    rows = await session.execute(select(Track.content_hash, Track.id).where(Track.content_hash.in_(unique)))
    return dict(rows.all())


async def record_imported_files(session: AsyncSession, files: Sequence[tuple[bytes, int, int, str]]) -> None:
    """Remember (path bytes, size, mtime_ns, content_hash) of files read by a folder import."""
    if not files:
        return
    stmt = insert(ImportedFile)
    stmt = stmt.on_conflict_do_update(
        index_elements=["path"],
        set_={
            "size": stmt.excluded.size,
            "mtime_ns": stmt.excluded.mtime_ns,
            "content_hash": stmt.excluded.content_hash,
            "imported_at": func.now(),
        },
    )
    rows = [{"path": p, "size": s, "mtime_ns": m, "content_hash": h} for p, s, m, h in files]
    await session.execute(stmt, rows)


@dataclass(frozen=True, slots=True)
class ImportedState:
    """What a file was when a folder import last read it, and whether its track is still in the library."""

    size: int
    mtime_ns: int
    content_hash: str
    in_library: bool


async def imported_files_under(session: AsyncSession, prefix: bytes) -> dict[bytes, ImportedState]:
    """{path: state} of the files a previous import read under ``prefix`` (file-system bytes)."""
    in_library = select(Track.id).where(Track.content_hash == ImportedFile.content_hash).exists()
    stmt = select(
        ImportedFile.path, ImportedFile.size, ImportedFile.mtime_ns, ImportedFile.content_hash, in_library
    ).where(func.substring(ImportedFile.path, 1, len(prefix)) == prefix)
    rows = await session.execute(stmt)
    return {path: ImportedState(size, mtime, digest, present) for path, size, mtime, digest, present in rows}


async def replaceable_tracks(session: AsyncSession, digests: Iterable[str], owner: uuid.UUID | None) -> list[Track]:
    """Our tracks with these hashes, imported by ``owner``, that no imported file provides any more."""
    unique = list(set(digests))
    if not unique:
        return []
    stmt = select(Track).where(
        Track.content_hash.in_(unique),
        Track.origin_node.is_(None),
        Track.uploaded_by.is_not_distinct_from(owner),
        ~select(ImportedFile.path).where(ImportedFile.content_hash == Track.content_hash).exists(),
    )
    return list((await session.execute(stmt)).scalars())


# --- upkeep -------------------------------------------------------------------------------------------------


async def referenced_track_hashes(session: AsyncSession, digests: list[str]) -> set[str]:
    """The digests among ``digests`` that are the audio of a track."""
    rows = await session.execute(select(Track.content_hash).where(Track.content_hash.in_(digests)))
    return set(rows.scalars())


async def referenced_cover_hashes(session: AsyncSession, digests: list[str]) -> set[str]:
    """The digests among ``digests`` that have a cover row."""
    return set((await session.execute(select(Cover.hash).where(Cover.hash.in_(digests)))).scalars())


async def unused_covers(session: AsyncSession, older_than_seconds: float) -> list[str]:
    """Hashes of cover rows no album shows, created more than ``older_than_seconds`` ago."""
    stmt = select(Cover.hash).where(
        ~select(Album.id).where(Album.cover_hash == Cover.hash).exists(),
        Cover.created_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds),
    )
    return list((await session.execute(stmt)).scalars())


async def delete_covers_if_unused(session: AsyncSession, digests: list[str]) -> int:
    """Delete those of these cover rows that no album shows (call with their digest locks held)."""
    stmt = delete(Cover).where(
        Cover.hash.in_(digests), ~select(Album.id).where(Album.cover_hash == Cover.hash).exists()
    )
    return len((await session.execute(stmt.returning(Cover.hash))).all())


# --- reads ---------------------------------------------------------------------------------------------------
# Lists, details and search read plain columns, not ORM entities, with statements built once (their compiled
# form and cache key are reused): a page of tracks costs several times less CPU than loading it as objects.

_TRACK_COLUMNS = tuple(getattr(Track, column.name) for column in fields(TrackColumns))
_ALBUM_COLUMNS = tuple(getattr(Album, column.name) for column in fields(AlbumColumns))
_T = len(_TRACK_COLUMNS)
_A = len(_ALBUM_COLUMNS)
_ID = Track.id.type
_LIMIT = bindparam("limit", type_=Integer)


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


_TRACK_BY_ID = track_select().where(Track.id == bindparam("id"))
_TRACKS_BY_IDS = track_select().where(Track.id.in_(bindparam("ids", expanding=True)))
_NEWEST_TRACKS = _keyset(track_select(), Track.created_at, Track.created_at.type, descending=True)
_ALBUM_TRACKS = (
    track_select()
    .where(Track.album_id == bindparam("album"))
    .order_by(
        Track.disc_number.asc().nulls_last(), Track.track_number.asc().nulls_last(), func.lower(Track.title), Track.id
    )
)
_TRACK_SORT_KEY = func.lower(Track.title)
_ARTIST_TRACKS = _keyset(
    track_select().add_columns(_TRACK_SORT_KEY).where(Track.artist_id == bindparam("artist")), _TRACK_SORT_KEY, String()
)


async def _by_ids(session: AsyncSession, stmt: Select[Any], ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    """The rows of ``stmt`` (which takes ``:ids``) for these ids; none, without a query, for no ids."""
    return (await session.execute(stmt, {"ids": list(ids)})).all() if ids else []


async def get_track(session: AsyncSession, track_id: uuid.UUID) -> TrackRow | None:
    """One track with its artist and album."""
    row = (await session.execute(_TRACK_BY_ID, {"id": track_id})).first()
    return track_row(row) if row is not None else None


async def get_track_entity(session: AsyncSession, track_id: uuid.UUID, *, lock: bool = False) -> Track | None:
    """The bare track row (optionally locked for update)."""
    stmt = select(Track).where(Track.id == track_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_tracks(session: AsyncSession, limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[TrackRow]:
    """Newest tracks first, ``limit`` of them after the keyset cursor ``after``."""
    return [track_row(row) for row in await _page(session, _NEWEST_TRACKS, after, limit=limit)]


async def tracks_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TrackRow]:
    """{id: row} for the given track ids."""
    rows = [track_row(row) for row in await _by_ids(session, _TRACKS_BY_IDS, ids)]
    return {row.track.id: row for row in rows}


async def album_tracks(session: AsyncSession, album_id: uuid.UUID) -> list[TrackRow]:
    """The tracks of an album in disc, track and title order."""
    return [track_row(row) for row in await session.execute(_ALBUM_TRACKS, {"album": album_id})]


async def artist_tracks(
    session: AsyncSession, artist_id: uuid.UUID, limit: int, after: tuple[str, uuid.UUID] | None = None
) -> list[tuple[TrackRow, str]]:
    """Tracks performed by an artist by title (case-insensitive) then id, ``limit`` of them after the keyset
    cursor ``after``; each with its sort key (the database's ``lower(title)``, which cursors must use)."""
    rows = await _page(session, _ARTIST_TRACKS, after, artist=artist_id, limit=limit)
    return [(track_row(row), row[-1]) for row in rows]


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


_ALBUM_SORT_KEY = func.lower(Album.title)
_ALBUMS = _keyset(album_select(), _ALBUM_SORT_KEY, String())
_ALBUM_BY_ID = album_select().where(Album.id == bindparam("id"))
_ALBUMS_BY_IDS = album_select().where(Album.id.in_(bindparam("ids", expanding=True)))
_ALBUMS_OF_ARTIST = (
    album_select()
    .where(Album.artist_id == bindparam("artist"))
    .order_by(Album.year.desc().nulls_last(), _ALBUM_SORT_KEY, Album.id)
)


async def list_albums(session: AsyncSession, limit: int, after: tuple[str, uuid.UUID] | None) -> list[AlbumRow]:
    """Albums by title (case-insensitive), ``limit`` of them after ``after``."""
    return [album_row(row) for row in await _page(session, _ALBUMS, after, limit=limit)]


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


def artist_select() -> Select[Any]:
    """Artists with album and track counts and sort key: the columns :func:`artist_row` reads."""
    albums = select(func.count()).where(Album.artist_id == Artist.id).correlate(Artist).scalar_subquery()
    tracks = select(func.count()).where(Track.artist_id == Artist.id).correlate(Artist).scalar_subquery()
    sort_key = func.lower(Artist.name).label("sort_key")
    return select(Artist.id, Artist.name, albums.label("albums"), tracks.label("tracks"), sort_key)


def artist_row(row: Sequence[Any]) -> ArtistRow:
    """The artist of a row of :func:`artist_select`."""
    return ArtistRow(ArtistName(row[0], row[1]), row[2], row[3], row[4])


_ARTIST_SORT_KEY = func.lower(Artist.name)
_ARTISTS = _keyset(artist_select(), _ARTIST_SORT_KEY, String())
_ARTIST_BY_ID = artist_select().where(Artist.id == bindparam("id"))
_ARTISTS_BY_IDS = artist_select().where(Artist.id.in_(bindparam("ids", expanding=True)))


async def list_artists(session: AsyncSession, limit: int, after: tuple[str, uuid.UUID] | None) -> list[ArtistRow]:
    """Artists by name (case-insensitive), ``limit`` of them after ``after``."""
    return [artist_row(row) for row in await _page(session, _ARTISTS, after, limit=limit)]


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


async def album_cover_hash(session: AsyncSession, album_id: uuid.UUID) -> str | None:
    """The cover hash of an album (None without cover or album)."""
    return (await session.execute(select(Album.cover_hash).where(Album.id == album_id))).scalar_one_or_none()


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


# --- deletion ------------------------------------------------------------------------------------------------


async def delete_track(session: AsyncSession, track: Track) -> None:
    """Delete a track row."""
    await session.delete(track)
    await session.flush()


async def delete_album_if_empty(session: AsyncSession, album_id: uuid.UUID) -> tuple[uuid.UUID | None, str | None]:
    """Delete an album with no tracks left.

    Returns (its album artist id, its cover hash if no other album uses that cover); (None, None) if the album
    still has tracks — including one a concurrent upload is adding right now (the delete then fails on the
    foreign key inside a savepoint, which is rolled back alone).
    """
    stmt = (
        delete(Album)
        .where(Album.id == album_id, ~select(Track.id).where(Track.album_id == album_id).exists())
        .returning(Album.artist_id, Album.cover_hash)
    )
    deleted = await _delete_unless_referenced(session, stmt)
    if deleted is None:
        return None, None
    artist_id, cover = deleted
    if cover is not None:
        in_use = (await session.execute(select(Album.id).where(Album.cover_hash == cover).limit(1))).first()
        if in_use:
            cover = None
    return artist_id, cover


async def delete_cover(session: AsyncSession, digest: str) -> None:
    """Delete a cover row."""
    await session.execute(delete(Cover).where(Cover.hash == digest))


async def delete_artists_if_unused(session: AsyncSession, artist_ids: Iterable[uuid.UUID]) -> None:
    """Delete artists that no track and no album refers to any more (nor, concurrently, is about to)."""
    for artist_id in sorted(set(artist_ids)):
        stmt = delete(Artist).where(
            Artist.id == artist_id,
            ~select(Track.id).where(Track.artist_id == artist_id).exists(),
            ~select(Album.id).where(Album.artist_id == artist_id).exists(),
        )
        await _delete_unless_referenced(session, stmt.returning(Artist.id))


async def _delete_unless_referenced(session: AsyncSession, stmt: Any) -> Any:
    """Run a DELETE … RETURNING in a savepoint; a foreign-key violation means "still in use" (None)."""
    try:
        async with session.begin_nested():
            return (await session.execute(stmt)).first()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _FOREIGN_KEY_VIOLATIONS:
            raise
        return None
