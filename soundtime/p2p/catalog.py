"""Our catalog as announcements (stable keyset pages), and replication of what peers announce into rows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.db import Database
from soundtime.library.repository import writes as library_repo
from soundtime.library.tags import UNKNOWN_ARTIST
from soundtime.p2p import repository as repo
from soundtime.p2p.policy import Limits
from soundtime.p2p.tracks import announcement_of
from soundtime.p2p.validation import FixLog, announcement_problem, tidy
from soundtime.p2p.wire import TrackAnnouncement

log = logging.getLogger(__name__)

#: Announcements checked between two turns of the event loop while a page is ingested.
CHUNK = 100
#: New tracks written per statement.
INSERT_ROWS = 250

_repairs = FixLog()


async def catalog_pages(
    db: Database, origin: str, since: datetime | None, *, page_size: int
) -> AsyncIterator[list[TrackAnnouncement]]:
    """Our own tracks in pages of ``page_size``: all of them, or those changed after ``since``.

    Each page is read in its own short transaction; keyset order makes the walk stable while rows change.
    """
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with db.transaction() as session:
            if since is None:
                page = await repo.own_catalog_page(session, page_size, after)
            else:
                page = await repo.own_changes_page(session, since, page_size, after)
        if page is None:
            return
        yield [announcement_of(facts, origin) for facts in page.facts]
        after = page.last
        if len(page.facts) < page_size:
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


@dataclass(frozen=True)
class Prepared:
    """A message's announcements checked before its turn to be written (:func:`prepare`)."""

    #: Valid announcements, one per hash (the first wins), odd descriptions repaired, in the message's order.
    tracks: list[TrackAnnouncement]
    #: Announcements skipped: invalid ones and those beyond the per-message cap.
    skipped: int


async def prepare(
    sender: str, tracks: Sequence[TrackAnnouncement], per_message: int = Limits.max_tracks_per_message
) -> Prepared:
    """Check a message's announcements without the database: at most ``per_message`` are read; problems are
    logged, repairs noted once per sender and field.

    Pure Python, so one page is prepared while another's transaction runs. Checked :data:`CHUNK` at a time,
    letting the event loop run in between (a page is thousands of checks).
    """
    skipped = max(len(tracks) - per_message, 0)
    chosen: dict[str, TrackAnnouncement] = {}
    repaired: set[str] = set()
    read = tracks[:per_message]
    for start in range(0, len(read), CHUNK):
        if start:
            await asyncio.sleep(0)
        for track in read[start : start + CHUNK]:
            problem = announcement_problem(track, sender)
            if problem is not None:
                skipped += 1
                log.info("peer %s: skipped an announced track: %s", sender[:16], problem)
                continue
            if track.hash not in chosen:
                chosen[track.hash], fixed = tidy(track)
                repaired.update(fixed)
    _repairs.note(sender, sorted(repaired), "announced tracks")
    return Prepared(list(chosen.values()), skipped)


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
    """Create artist/album/track rows for announced tracks and record ``sender`` as a source of each:
    :func:`prepare`, then :func:`write`."""
    return await write(session, sender, await prepare(sender, tracks, per_message), quota=quota, offered=offered)


async def write(
    session: AsyncSession, sender: str, prepared: Prepared, *, quota: int, offered: int | None = None
) -> Replicated:
    """Create artist/album/track rows for prepared announcements and record ``sender`` as a source of each.

    Never creates a second track for a hash (existing rows keep their metadata, local or replicated), and
    creates artists and albums only for tracks it creates. A peer offering more than ``quota`` tracks gets
    nothing more recorded (``offered``: see :func:`_room`). Covers are shown only on albums without tracks of
    our own. Callers serialise calls per sender (the quota check).
    """
    result = Replicated(skipped=prepared.skipped, offered=offered)
    valid = prepared.tracks
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
    new = [t for t in valid if t.hash not in known]
    created = await _create_tracks(session, sender, new, result)
    # The sender is the source of the tracks just created; others it offers are recorded (or refreshed) here, and
    # so are new ones another transaction created first (rare: a race on one hash).
    others = [t.hash for t in valid] if created < len(new) else [t.hash for t in valid if t.hash in known]
    await repo.upsert_sources(session, sender, others)
    result.accepted = len(valid)
    return result


async def _create_tracks(
    session: AsyncSession, sender: str, tracks: Sequence[TrackAnnouncement], result: Replicated
) -> int:
    """Rows for announced tracks that are new here, with ``sender`` as their source; covers already stored are
    attached, the others wanted. Returns how many tracks were created."""
    if not tracks:
        return 0
    names = {t.artist_name for t in tracks} | {key[1] for t in tracks if (key := _album_key(t))}
    artist_ids = await library_repo.upsert_artists(session, names)
    albums: dict[tuple[str, uuid.UUID], library_repo.AlbumValues] = {}
    album_keys: list[tuple[str, uuid.UUID] | None] = []
    for track in tracks:
        album_key = None
        if (key := _album_key(track)) is not None:
            album_key = (key[0], artist_ids[key[1]])
            albums.setdefault(album_key, library_repo.AlbumValues(*album_key, track.year, track.genre, None))
        album_keys.append(album_key)
    album_ids = await library_repo.upsert_albums(session, list(albums.values()))
    album_id = [album_ids[key] if key is not None else None for key in album_keys]
    # In hash order across the whole page (concurrent pages lock hashes in one order), a part per statement: the
    # driver encodes a statement's arrays in one go on the event loop.
    order = sorted(range(len(tracks)), key=lambda i: tracks[i].hash)
    parts = [order[start : start + INSERT_ROWS] for start in range(0, len(order), INSERT_ROWS)]
    columns = [_columns([tracks[i] for i in part], artist_ids, [album_id[i] for i in part]) for part in parts]
    created = await repo.insert_remote_tracks(session, sender, columns)
    covers: defaultdict[str, list[uuid.UUID]] = defaultdict(list)
    for track, album in zip(tracks, album_id, strict=True):
        if album is not None and track.cover_hash:
            covers[track.cover_hash].append(album)
    stored = await repo.existing_covers(session, covers)
    await repo.show_covers(session, {digest: covers[digest] for digest in stored})
    result.missing_covers = {digest: albums for digest, albums in covers.items() if digest not in stored}
    return created


def _columns(
    tracks: Sequence[TrackAnnouncement], artist_ids: dict[str, uuid.UUID], album_ids: list[uuid.UUID | None]
) -> dict[str, list[Any]]:
    """The column arrays :func:`repo.insert_remote_tracks` takes (one list per column, built column by column)."""
    return {
        "title": [t.title for t in tracks],
        "artist_id": [artist_ids[t.artist_name] for t in tracks],
        "album_id": album_ids,
        "track_number": [t.track_number for t in tracks],
        "disc_number": [t.disc_number for t in tracks],
        "year": [t.year for t in tracks],
        "genre": [t.genre for t in tracks],
        "duration_secs": [t.duration_secs for t in tracks],
        "format": [t.format.lower() for t in tracks],
        "bitrate_kbps": [t.bitrate for t in tracks],
        "sample_rate": [t.sample_rate for t in tracks],
        "content_hash": [t.hash for t in tracks],
        "file_size": [t.file_size for t in tracks],
        "artist_name": [t.artist_name for t in tracks],
        "album_title": [t.album_title if a is not None else None for t, a in zip(tracks, album_ids, strict=True)],
    }


class IngestGate:
    """Turns at ingesting one sender's messages: up to ``concurrency()`` at once (one ingests while another waits
    on the database; asked at each turn), one at a time whenever the pages in flight could reach the sender's quota
    or its count is not known yet; that count is then read exactly, as :func:`replicate` does alone.

    ``offered`` is the sender's count as of its last ingest (an upper bound, see :func:`_room`), kept here while
    messages arrive.
    """

    def __init__(self, concurrency: Callable[[], int], offered: int | None) -> None:
        self.offered = offered
        self._concurrency = concurrency
        self._changed = asyncio.Condition()
        self._running = 0
        #: How many tracks the running ingests may add at most.
        self._reserved = 0

    @contextlib.asynccontextmanager
    async def turn(self, wanted: int, quota: int) -> AsyncIterator[Turn]:
        """Wait for a turn to ingest a message of ``wanted`` tracks; pass its ``offered`` to :func:`replicate` and
        its result to :meth:`Turn.done`."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._may_start(wanted, quota))
            turn = Turn(None if self.offered is None else self.offered + self._reserved)
            self._running += 1
            self._reserved += wanted
        try:
            yield turn
        finally:
            async with self._changed:
                self._running -= 1
                self._reserved -= wanted
                counted = turn.result.offered if turn.result is not None else None
                if counted is not None:
                    if turn.offered is None or self.offered is None:
                        self.offered = counted  # it ran alone
                    else:
                        self.offered += counted - turn.offered  # what it added
                self._changed.notify_all()

    def _may_start(self, wanted: int, quota: int) -> bool:
        if self._running == 0:
            return True
        return (
            self._running < self._concurrency()
            and self.offered is not None
            and self.offered + self._reserved + wanted <= quota
        )


@dataclass
class Turn:
    """One turn of an :class:`IngestGate`."""

    #: What to pass as :func:`replicate`'s ``offered``: the sender's count plus what others running may add.
    offered: int | None
    result: Replicated | None = None

    def done(self, result: Replicated) -> None:
        """The ingest committed with this result."""
        self.result = result
