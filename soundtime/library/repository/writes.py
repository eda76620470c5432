"""The library's SQL that writes: batched upserts for ingest, the files a folder import read, upkeep of blobs and
covers, and deletion. Reads are in :mod:`.lists`, :mod:`.details` and :mod:`.rows`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.models import Album, Artist, Cover, ImportedFile, Track

_LOCK_CLASS = 0x5354  # advisory-lock namespace of blob digests ("ST")
_FOREIGN_KEY_VIOLATIONS = {"23503", "23001"}  # foreign_key_violation, restrict_violation
_UPSERT_ATTEMPTS = 5


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


# --- deletion ------------------------------------------------------------------------------------------------


async def get_track_entity(session: AsyncSession, track_id: uuid.UUID, *, lock: bool = False) -> Track | None:
    """The bare track row (optionally locked for update)."""
    stmt = select(Track).where(Track.id == track_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def album_cover_hash(session: AsyncSession, album_id: uuid.UUID) -> str | None:
    """The cover hash of an album (None without cover or album)."""
    return (await session.execute(select(Album.cover_hash).where(Album.id == album_id))).scalar_one_or_none()


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
