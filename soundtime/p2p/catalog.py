"""Our catalog as announcements (stable keyset pages), and replication of what peers announce into rows."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.db import Database
from soundtime.library.repository import writes as library_repo
from soundtime.library.tags import UNKNOWN_ARTIST
from soundtime.p2p import repository as repo
from soundtime.p2p.policy import Limits
from soundtime.p2p.tracks import announcement
from soundtime.p2p.validation import FixLog, announcement_problem, tidy
from soundtime.p2p.wire import TrackAnnouncement

log = logging.getLogger(__name__)

#: Tracks per CatalogSync / CatalogDelta message (spec §4).
PAGE_SIZE = 500

_repairs = FixLog()


async def catalog_pages(db: Database, origin: str, since: datetime | None) -> AsyncIterator[list[TrackAnnouncement]]:
    """Our own tracks in pages of :data:`PAGE_SIZE`: all of them, or those changed after ``since``.

    Each page is read in its own short transaction; keyset order makes the walk stable while rows change.
    """
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with db.transaction() as session:
            if since is None:
                rows = await repo.own_catalog_page(session, PAGE_SIZE, after)
            else:
                rows = await repo.own_changes_page(session, since, PAGE_SIZE, after)
        if not rows:
            return
        yield [announcement(row.facts, origin) for row in rows]
        last = rows[-1]
        after = (last.created_at if since is None else last.updated_at, last.id)
        if len(rows) < PAGE_SIZE:
            return


@dataclass
class Replicated:
    """The outcome of ingesting one message's announcements."""

    accepted: int = 0
    skipped: int = 0
    #: Covers to fetch from the sender: {cover hash: ids of albums that should show it}.
    missing_covers: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    #: How many tracks the sender offers now (at most; None when unknown): pass it as the next call's ``offered``.
    offered: int | None = None


def _acceptable(tracks: Sequence[TrackAnnouncement], sender: str, result: Replicated) -> list[TrackAnnouncement]:
    """Valid announcements, one per hash (the first wins), odd descriptions repaired; problems are logged."""
    chosen: dict[str, TrackAnnouncement] = {}
    repaired: set[str] = set()
    for track in tracks:
        problem = announcement_problem(track, sender)
        if problem is not None:
            result.skipped += 1
            log.info("peer %s: skipped an announced track: %s", sender[:16], problem)
            continue
        if track.hash not in chosen:
            chosen[track.hash], fixed = tidy(track)
            repaired.update(fixed)
    _repairs.note(sender, sorted(repaired), "announced tracks")
    return list(chosen.values())


def _album_key(track: TrackAnnouncement) -> tuple[str, str] | None:
    if not track.album_title:
        return None
    return track.album_title, track.album_artist_name or track.artist_name or UNKNOWN_ARTIST


async def _room(session: AsyncSession, sender: str, quota: int, offered: int | None, wanted: int) -> tuple[int, int]:
    """(how many new tracks the sender may still offer, how many it offers now).

    ``offered`` is the caller's count from an earlier message: an upper bound (sources only disappear behind its
    back), so it is trusted to allow and counted again before anything is refused. Counting is the expensive
    part at size (every source row of the sender), so a catalog of 250,000 tracks is counted once, not per page.
    """
    if offered is None or offered + wanted > quota:
        offered = await repo.source_count(session, sender)
    return quota - offered, offered


async def replicate(
    session: AsyncSession,
    sender: str,
    tracks: Sequence[TrackAnnouncement],
    *,
    quota: int,
    per_message: int = Limits.max_tracks_per_message,
    offered: int | None = None,
) -> Replicated:
    """Create artist/album/track rows for announced tracks and record ``sender`` as a source of each.

    Never creates a second track for a hash (existing rows keep their metadata, local or replicated), and
    creates artists and albums only for tracks it creates. A peer offering more than ``quota`` tracks gets
    nothing more recorded (``offered``: see :func:`_room`); at most ``per_message`` are read from one message.
    Covers are shown only on albums without tracks of our own. Callers serialise calls per sender (the quota
    check).
    """
    result = Replicated(offered=offered)
    result.skipped = max(len(tracks) - per_message, 0)
    valid = _acceptable(tracks[:per_message], sender, result)
    if not valid:
        return result
    known = await repo.known_hashes(session, sender, [t.hash for t in valid])
    fresh = [t for t in valid if not known.get(t.hash)]
    room = 0
    if fresh:
        room, offered = await _room(session, sender, quota, offered, len(fresh))
        result.offered = offered + min(len(fresh), max(room, 0))
    if room < len(fresh):
        result.skipped += len(fresh) - max(room, 0)
        log.warning("peer %s: catalog quota of %d tracks reached", sender[:16], quota)
        allowed = {t.hash for t in fresh[: max(room, 0)]}
        valid = [t for t in valid if known.get(t.hash) or t.hash in allowed]
    await _create_tracks(session, sender, [t for t in valid if t.hash not in known], result)
    await repo.upsert_sources(session, sender, [t.hash for t in valid])
    result.accepted = len(valid)
    return result


async def _create_tracks(
    session: AsyncSession, sender: str, tracks: Sequence[TrackAnnouncement], result: Replicated
) -> None:
    """Rows for announced tracks that are new here; covers already stored are attached, the others wanted."""
    if not tracks:
        return
    names = {t.artist_name for t in tracks} | {key[1] for t in tracks if (key := _album_key(t))}
    artist_ids = await library_repo.upsert_artists(session, names)
    albums: dict[tuple[str, uuid.UUID], library_repo.AlbumValues] = {}
    for track in tracks:
        if (key := _album_key(track)) is not None:
            album_key = (key[0], artist_ids[key[1]])
            albums.setdefault(album_key, library_repo.AlbumValues(*album_key, track.year, track.genre, None))
    album_ids = await library_repo.upsert_albums(session, list(albums.values()))

    columns: dict[str, list[Any]] = {name: [] for name in (*repo.REMOTE_TRACK_COLUMNS, *repo.REMOTE_TRACK_NAMES)}
    covers: defaultdict[str, list[uuid.UUID]] = defaultdict(list)
    for track in tracks:
        key = _album_key(track)
        album_id = album_ids[(key[0], artist_ids[key[1]])] if key else None
        if album_id is not None and track.cover_hash:
            covers[track.cover_hash].append(album_id)
        for name, value in _track_values(track, artist_ids[track.artist_name], album_id).items():
            columns[name].append(value)
    await repo.insert_remote_tracks(session, sender, columns)
    stored = await repo.existing_covers(session, covers)
    for digest in stored:
        await repo.show_cover(session, digest, covers[digest])
    result.missing_covers = {digest: albums for digest, albums in covers.items() if digest not in stored}


def _track_values(track: TrackAnnouncement, artist_id: uuid.UUID, album_id: uuid.UUID | None) -> dict[str, Any]:
    return {
        "title": track.title,
        "artist_id": artist_id,
        "album_id": album_id,
        "track_number": track.track_number,
        "disc_number": track.disc_number,
        "year": track.year,
        "genre": track.genre,
        "duration_secs": track.duration_secs,
        "format": track.format.lower(),
        "bitrate_kbps": track.bitrate,
        "sample_rate": track.sample_rate,
        "content_hash": track.hash,
        "file_size": track.file_size,
        "artist_name": track.artist_name,
        "album_title": track.album_title if album_id is not None else None,
    }
