"""All SQL of the listener features: playlists, annotations (stars, ratings, play counts), plays, play queues."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import delete, func, or_, select, text, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.models import (
    Album,
    AlbumAnnotation,
    Artist,
    ArtistAnnotation,
    Play,
    Playlist,
    PlaylistEntry,
    PlayQueue,
    PlayQueueEntry,
    Track,
    TrackAnnotation,
    User,
)

Kind = Literal["track", "album", "artist"]
AnnotationModel = type[TrackAnnotation] | type[AlbumAnnotation] | type[ArtistAnnotation]
ANNOTATIONS: dict[str, tuple[AnnotationModel, str]] = {
    "track": (TrackAnnotation, "track_id"),
    "album": (AlbumAnnotation, "album_id"),
    "artist": (ArtistAnnotation, "artist_id"),
}
TARGETS: dict[str, type[Track] | type[Album] | type[Artist]] = {"track": Track, "album": Album, "artist": Artist}


# --- playlists -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaylistRow:
    """A playlist with its owner's name and what its entries add up to."""

    playlist: Playlist
    owner_name: str
    track_count: int
    duration_secs: float
    #: The album of the first entry that has a cover (for a picture of the playlist).
    cover_album_id: uuid.UUID | None
    sort_key: str


def _playlist_select() -> Any:
    counts = (
        select(func.count().label("n"), func.coalesce(func.sum(Track.duration_secs), 0.0).label("duration"))
        .select_from(PlaylistEntry)
        .join(Track, Track.id == PlaylistEntry.track_id)
        .where(PlaylistEntry.playlist_id == Playlist.id)
        .correlate(Playlist)
        .lateral("counts")
    )
    cover = (
        select(Album.id)
        .select_from(PlaylistEntry)
        .join(Track, Track.id == PlaylistEntry.track_id)
        .join(Album, Album.id == Track.album_id)
        .where(PlaylistEntry.playlist_id == Playlist.id, Album.cover_hash.is_not(None))
        .order_by(PlaylistEntry.position)
        .limit(1)
        .correlate(Playlist)
        .scalar_subquery()
    )
    return (
        select(Playlist, User.username, counts.c.n, counts.c.duration, cover, func.lower(Playlist.name))
        .join(User, User.id == Playlist.owner_id)
        .join(counts, true())
    )


def _playlist_rows(result: Iterable[Any]) -> list[PlaylistRow]:
    return [PlaylistRow(p, owner, int(n), float(d), cover, key) for p, owner, n, d, cover, key in result]


async def count_playlists(session: AsyncSession, owner_id: uuid.UUID) -> int:
    """How many playlists a user owns."""
    stmt = select(func.count()).select_from(Playlist).where(Playlist.owner_id == owner_id)
    return int((await session.execute(stmt)).scalar_one())


async def add_playlist(
    session: AsyncSession, owner_id: uuid.UUID, name: str, comment: str | None, public: bool
) -> Playlist:
    """Insert a playlist."""
    playlist = Playlist(owner_id=owner_id, name=name, comment=comment, public=public)
    session.add(playlist)
    await session.flush()
    await session.refresh(playlist)
    return playlist


async def get_playlist(session: AsyncSession, playlist_id: uuid.UUID, *, lock: bool = False) -> Playlist | None:
    """A playlist (locked for update when asked: edits of one playlist are serialised)."""
    stmt = select(Playlist).where(Playlist.id == playlist_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def playlist_row(session: AsyncSession, playlist_id: uuid.UUID) -> PlaylistRow | None:
    """One playlist with owner name, counts and cover."""
    rows = _playlist_rows(await session.execute(_playlist_select().where(Playlist.id == playlist_id)))
    return rows[0] if rows else None


async def visible_playlists(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    limit: int,
    after: tuple[str, uuid.UUID] | None = None,
    *,
    owner_id: uuid.UUID | None = None,
) -> list[PlaylistRow]:
    """Playlists ``viewer_id`` may see (their own and public ones), by name; only ``owner_id``'s when given."""
    stmt = _playlist_select().where(or_(Playlist.owner_id == viewer_id, Playlist.public))
    if owner_id is not None:
        stmt = stmt.where(Playlist.owner_id == owner_id)
    if after is not None:
        stmt = stmt.where(tuple_(func.lower(Playlist.name), Playlist.id) > tuple_(*after))
    stmt = stmt.order_by(func.lower(Playlist.name), Playlist.id).limit(limit)
    return _playlist_rows(await session.execute(stmt))


async def entry_track_ids(session: AsyncSession, playlist_id: uuid.UUID) -> list[uuid.UUID]:
    """The track of each entry of a playlist, in order."""
    stmt = (
        select(PlaylistEntry.track_id).where(PlaylistEntry.playlist_id == playlist_id).order_by(PlaylistEntry.position)
    )
    return list((await session.execute(stmt)).scalars())


_INSERT_ENTRIES = text(
    "INSERT INTO playlist_entries (playlist_id, position, track_id) "
    "SELECT :playlist, e.ord - 1, e.track FROM unnest(CAST(:tracks AS uuid[])) WITH ORDINALITY AS e(track, ord)"
)


async def replace_entries(session: AsyncSession, playlist: Playlist, track_ids: Sequence[uuid.UUID]) -> None:
    """Make ``track_ids`` the playlist's entries (positions 0..n-1) and mark it changed."""
    await session.execute(delete(PlaylistEntry).where(PlaylistEntry.playlist_id == playlist.id))
    if track_ids:
        await session.execute(_INSERT_ENTRIES, {"playlist": playlist.id, "tracks": list(track_ids)})
    playlist.updated_at = datetime.now(UTC)
    await session.flush()


async def touch_playlist(session: AsyncSession, playlist: Playlist) -> None:
    """Record that a playlist changed (its attributes were set by the caller)."""
    playlist.updated_at = datetime.now(UTC)
    await session.flush()


async def delete_playlist(session: AsyncSession, playlist: Playlist) -> None:
    """Delete a playlist and its entries."""
    await session.delete(playlist)
    await session.flush()


# --- existence -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackRefs:
    """What a play of a track also counts for."""

    track_id: uuid.UUID
    album_id: uuid.UUID | None
    artist_id: uuid.UUID


async def track_refs(session: AsyncSession, track_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, TrackRefs]:
    """{id: refs} of the tracks among ``track_ids`` that exist."""
    unique = list(set(track_ids))
    if not unique:
        return {}
    stmt = select(Track.id, Track.album_id, Track.artist_id).where(Track.id.in_(unique))
    return {tid: TrackRefs(tid, album, artist) for tid, album, artist in await session.execute(stmt)}


async def existing_ids(session: AsyncSession, kind: Kind, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among ``ids`` of tracks / albums / artists that exist."""
    unique = list(set(ids))
    if not unique:
        return set()
    model = TARGETS[kind]
    return set((await session.execute(select(model.id).where(model.id.in_(unique)))).scalars())


async def tracks_by_artist_title(
    session: AsyncSession, pairs: Sequence[tuple[str | None, str]]
) -> dict[tuple[str | None, str], uuid.UUID]:
    """Tracks found by (artist, title), both compared case-insensitively (artist None: any artist).

    When several tracks match, local ones win, then the oldest (a stable choice).
    """
    found: dict[tuple[str | None, str], uuid.UUID] = {}
    with_artist = sorted({(a.lower(), t.lower()) for a, t in pairs if a is not None})
    titles_only = sorted({t.lower() for a, t in pairs if a is None})
    order = (Track.origin_node.is_not(None), Track.created_at, Track.id)
    if with_artist:
        key = tuple_(func.lower(Artist.name), func.lower(Track.title))
        stmt = (
            select(func.lower(Artist.name), func.lower(Track.title), Track.id)
            .join(Artist, Artist.id == Track.artist_id)
            .where(key.in_(with_artist))
            .order_by(*order)
        )
        for artist, title, track_id in await session.execute(stmt):
            found.setdefault((artist, title), track_id)
    if titles_only:
        stmt = (
            select(func.lower(Track.title), Track.id).where(func.lower(Track.title).in_(titles_only)).order_by(*order)
        )
        for title, track_id in await session.execute(stmt):
            found.setdefault((None, title), track_id)
    return found


# --- annotations ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Annotation:
    """A user's marks on one item."""

    starred_at: datetime | None
    rating: int | None
    play_count: int
    last_played_at: datetime | None


NO_ANNOTATION = Annotation(None, None, 0, None)


async def set_starred(session: AsyncSession, user_id: uuid.UUID, kind: Kind, ids: Sequence[uuid.UUID]) -> None:
    """Star items (an item starred before keeps its original date)."""
    if not ids:
        return
    model, column = ANNOTATIONS[kind]
    rows = [{"user_id": user_id, column: item, "starred_at": func.now()} for item in sorted(set(ids))]
    stmt = insert(model).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", column],
        set_={"starred_at": func.coalesce(model.starred_at, stmt.excluded.starred_at)},
    )
    await session.execute(stmt)


async def clear_starred(session: AsyncSession, user_id: uuid.UUID, kind: Kind, ids: Sequence[uuid.UUID]) -> None:
    """Unstar items (unknown or unstarred ones are ignored)."""
    if not ids:
        return
    model, column = ANNOTATIONS[kind]
    stmt = (
        update(model)
        .where(model.user_id == user_id, getattr(model, column).in_(list(set(ids))))
        .values(starred_at=None)
    )
    await session.execute(stmt)


async def set_rating(
    session: AsyncSession, user_id: uuid.UUID, kind: Kind, item_id: uuid.UUID, rating: int | None
) -> None:
    """Set (1..5) or clear (None) a user's rating of an item."""
    model, column = ANNOTATIONS[kind]
    stmt = insert(model).values({"user_id": user_id, column: item_id, "rating": rating})
    stmt = stmt.on_conflict_do_update(index_elements=["user_id", column], set_={"rating": stmt.excluded.rating})
    await session.execute(stmt)


async def annotations_of(
    session: AsyncSession, user_id: uuid.UUID, kind: Kind, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Annotation]:
    """{item id: annotation} of a user for the items among ``ids`` they marked."""
    unique = list(set(ids))
    if not unique:
        return {}
    model, column = ANNOTATIONS[kind]
    item = getattr(model, column)
    stmt = select(item, model.starred_at, model.rating, model.play_count, model.last_played_at).where(
        model.user_id == user_id, item.in_(unique)
    )
    return {row[0]: Annotation(row[1], row[2], int(row[3]), row[4]) for row in await session.execute(stmt)}


async def starred(
    session: AsyncSession,
    user_id: uuid.UUID,
    kind: Kind,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[tuple[uuid.UUID, datetime]]:
    """(item id, starred at) of a user's starred items, most recently starred first."""
    model, column = ANNOTATIONS[kind]
    item = getattr(model, column)
    stmt = select(item, model.starred_at).where(model.user_id == user_id, model.starred_at.is_not(None))
    if before is not None:
        stmt = stmt.where(tuple_(model.starred_at, item) < tuple_(*before))
    stmt = stmt.order_by(model.starred_at.desc(), item.desc()).limit(limit)
    return [(row[0], row[1]) for row in await session.execute(stmt)]


# --- plays ---------------------------------------------------------------------------------------------------

_COUNT_PLAYS = """
INSERT INTO {table} AS a (user_id, {column}, play_count, last_played_at)
SELECT :user, p.item, count(*), max(p.at)
FROM unnest(CAST(:items AS uuid[]), CAST(:times AS timestamptz[])) AS p(item, at)
WHERE p.item IS NOT NULL
GROUP BY p.item
ORDER BY p.item
ON CONFLICT (user_id, {column}) DO UPDATE SET
    play_count = a.play_count + excluded.play_count,
    last_played_at = greatest(a.last_played_at, excluded.last_played_at)
"""
_COUNTERS = {
    kind: text(_COUNT_PLAYS.format(table=model.__tablename__, column=column))
    for kind, (model, column) in ANNOTATIONS.items()
}


async def record_plays(
    session: AsyncSession, user_id: uuid.UUID, plays: Sequence[tuple[TrackRefs, datetime]], client: str | None
) -> list[int]:
    """Add plays to the history and count them for their tracks, albums and artists; returns the plays' ids."""
    if not plays:
        return []
    rows = [{"user_id": user_id, "track_id": refs.track_id, "played_at": at, "client": client} for refs, at in plays]
    ids = list((await session.execute(insert(Play).returning(Play.id), rows)).scalars())
    times = [at for _, at in plays]
    items = {
        "track": [refs.track_id for refs, _ in plays],
        "album": [refs.album_id for refs, _ in plays],
        "artist": [refs.artist_id for refs, _ in plays],
    }
    for kind, statement in _COUNTERS.items():
        await session.execute(statement, {"user": user_id, "items": items[kind], "times": times})
    return ids


async def prune_plays(session: AsyncSession, user_id: uuid.UUID, keep: int) -> None:
    """Forget a user's plays beyond the ``keep`` most recent (the counts stay)."""
    cutoff = (
        select(Play.played_at, Play.id)
        .where(Play.user_id == user_id)
        .order_by(Play.played_at.desc(), Play.id.desc())
        .offset(keep)
        .limit(1)
    )
    row = (await session.execute(cutoff)).first()
    if row is not None:
        stmt = delete(Play).where(Play.user_id == user_id, tuple_(Play.played_at, Play.id) <= tuple_(*row))
        await session.execute(stmt)


async def recent_plays(
    session: AsyncSession, user_id: uuid.UUID, limit: int, before: tuple[datetime, int] | None = None
) -> list[Play]:
    """A user's plays, newest first."""
    stmt = select(Play).where(Play.user_id == user_id)
    if before is not None:
        stmt = stmt.where(tuple_(Play.played_at, Play.id) < tuple_(*before))
    stmt = stmt.order_by(Play.played_at.desc(), Play.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def most_played(session: AsyncSession, user_id: uuid.UUID, limit: int) -> list[tuple[uuid.UUID, int]]:
    """(track id, play count) of a user's most played tracks."""
    stmt = (
        select(TrackAnnotation.track_id, TrackAnnotation.play_count)
        .where(TrackAnnotation.user_id == user_id, TrackAnnotation.play_count > 0)
        .order_by(TrackAnnotation.play_count.desc(), TrackAnnotation.last_played_at.desc(), TrackAnnotation.track_id)
        .limit(limit)
    )
    return [(row[0], int(row[1])) for row in await session.execute(stmt)]


# --- play queue ----------------------------------------------------------------------------------------------


async def get_queue(session: AsyncSession, user_id: uuid.UUID) -> tuple[PlayQueue, list[tuple[int, uuid.UUID]]] | None:
    """A user's saved queue and its (position, track id) entries in order."""
    queue = await session.get(PlayQueue, user_id)
    if queue is None:
        return None
    stmt = (
        select(PlayQueueEntry.position, PlayQueueEntry.track_id)
        .where(PlayQueueEntry.user_id == user_id)
        .order_by(PlayQueueEntry.position)
    )
    return queue, [(int(position), track) for position, track in await session.execute(stmt)]


_INSERT_QUEUE = text(
    "INSERT INTO play_queue_entries (user_id, position, track_id) "
    "SELECT :user, e.ord - 1, e.track FROM unnest(CAST(:tracks AS uuid[])) WITH ORDINALITY AS e(track, ord)"
)


async def save_queue(
    session: AsyncSession,
    user_id: uuid.UUID,
    track_ids: Sequence[uuid.UUID],
    *,
    current: int | None,
    position_ms: int,
    changed_by: str,
) -> None:
    """Replace a user's saved queue (entries at positions 0..n-1; ``current`` is one of them or None)."""
    values = {
        "current_position": current,
        "position_ms": position_ms,
        "changed_by": changed_by,
        "changed_at": func.now(),
    }
    stmt = insert(PlayQueue).values(user_id=user_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_=values))
    await session.execute(delete(PlayQueueEntry).where(PlayQueueEntry.user_id == user_id))
    if track_ids:
        await session.execute(_INSERT_QUEUE, {"user": user_id, "tracks": list(track_ids)})


async def clear_queue(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Forget a user's saved queue."""
    await session.execute(delete(PlayQueue).where(PlayQueue.user_id == user_id))
