"""Replication of announced tracks into rows, and our catalog in keyset pages (real PostgreSQL): rows committed and
searchable at page boundaries, a hostile page judged track by track, a page failing part-way leaves nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from soundtime.blobs.store import BlobStore
from soundtime.kit.activity import LastSeen
from soundtime.kit.db import Database
from soundtime.kit.jobs import Jobs
from soundtime.models import Album, Artist, RemoteTrackSource, Track, track_sources
from soundtime.p2p import catalog, wire
from soundtime.p2p import repository as repo
from soundtime.p2p.errors import PeerError, PeerUnavailable
from soundtime.p2p.policy import Limits, Policy
from soundtime.p2p.ports import VERSION, OwnNode
from soundtime.p2p.sync import CatalogSync
from tests.p2p.conftest import eventually
from tests.support.soundtime_peer import announcement

A = "a" * 64
C = "c" * 64
ME = "e" * 64


async def _peers(db: Database, *node_ids: str) -> None:
    async with db.transaction() as session:
        for node_id in node_ids:
            await repo.touch_peer(session, node_id, source="seed")


async def _count(db: Database, model: object) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())  # type: ignore[arg-type]


async def test_concurrent_announcements_of_one_hash_make_one_track_with_every_source(db: Database) -> None:
    await _peers(db, A, C)
    shared = [announcement(A, i) for i in range(300)]
    from_c = [announcement(C, i, origin_node=C) for i in range(300)]  # same hashes, offered by C as its own

    async def replicate(sender: str, tracks: list[object]) -> catalog.Replicated:
        async with db.transaction() as session:
            return await catalog.replicate(session, sender, tracks, quota=10_000)  # type: ignore[arg-type]

    results = await asyncio.gather(*(replicate(A, shared) for _ in range(3)), replicate(C, from_c))
    assert all(r.accepted == 300 for r in results)
    assert await _count(db, Track) == 300
    async with db.transaction() as session:
        per_track = (
            await session.execute(select(track_sources.c.track_id, func.count()).group_by(track_sources.c.track_id))
        ).all()
        origins = set((await session.scalars(select(Track.origin_node))).all())
    assert len(per_track) == 300
    assert {count for _, count in per_track} == {2}
    assert len(origins) == 1  # whoever came first keeps the row; the other is a second source


async def test_an_announced_copy_of_our_own_track_is_only_a_source(db: Database) -> None:
    await _peers(db, A)
    mine = announcement(A, 1)
    async with db.transaction() as session:
        await catalog.replicate(session, A, [mine], quota=10)
        await session.execute(update(Track).values(origin_node=None, file_path="ab/x"))
        await catalog.replicate(session, A, [announcement(A, 1, title="Renamed")], quota=10)
        track = (await session.scalars(select(Track))).one()
        sources = (await session.scalars(select(RemoteTrackSource))).all()
    assert track.origin_node is None
    assert track.title == "Song 1"
    assert [(s.node_id, s.is_origin) for s in sources] == [(A, False)]


async def test_quota_limits_what_one_peer_adds(db: Database) -> None:
    await _peers(db, A)
    async with db.transaction() as session:
        first = await catalog.replicate(session, A, [announcement(A, i) for i in range(8)], quota=10)
        second = await catalog.replicate(session, A, [announcement(A, i) for i in range(100, 108)], quota=10)
    assert (first.accepted, first.skipped) == (8, 0)
    assert (second.accepted, second.skipped) == (2, 6)
    assert await _count(db, Track) == 10


async def test_a_count_carried_from_earlier_pages_is_checked_before_anything_is_refused(db: Database) -> None:
    await _peers(db, A)
    async with db.transaction() as session:
        first = await catalog.replicate(session, A, [announcement(A, i) for i in range(4)], quota=10)
        # A caller's count may be high (tracks were deleted since): it is counted again, nothing is refused.
        stale = await catalog.replicate(session, A, [announcement(A, i) for i in range(10, 16)], quota=10, offered=9)
        # Carried forward, the count still stops the peer at its quota.
        full = await catalog.replicate(
            session, A, [announcement(A, i) for i in range(20, 25)], quota=10, offered=stale.offered
        )
    assert (first.offered, stale.offered, full.offered) == (4, 10, 10)
    assert (stale.accepted, stale.skipped, full.accepted, full.skipped) == (6, 0, 0, 5)
    assert await _count(db, Track) == 10


async def test_replicated_tracks_get_the_search_vector_the_trigger_would_compute(db: Database) -> None:
    await _peers(db, A)
    tracks = [
        announcement(A, 1, title="Blue Monday", artist_name="New Order", album_title="Power, Corruption & Lies"),
        announcement(A, 2, title="Ceremony", artist_name="Joy-Division", album_title=None),
    ]
    async with db.transaction() as session:
        await catalog.replicate(session, A, tracks, quota=10)
        written = dict((await session.execute(select(Track.title, Track.search_vector))).all())
        # Touching the title makes the trigger compute the vector from the rows' names.
        await session.execute(update(Track).values(title=Track.title))
        recomputed = dict((await session.execute(select(Track.title, Track.search_vector))).all())
    assert written == recomputed
    # title A, artist B, album C
    assert written["Blue Monday"] == "'blue':1A 'corruption':6C 'lies':7C 'monday':2A 'new':3B 'order':4B 'power':5C"
    assert written["Ceremony"] == "'ceremony':1A 'division':3B 'joy':2B"


async def test_one_message_is_read_up_to_its_cap_and_known_hashes_create_no_rows(db: Database) -> None:
    await _peers(db, A)
    async with db.transaction() as session:
        big = await catalog.replicate(session, A, [announcement(A, i) for i in range(1200)], quota=10_000)
    assert (big.accepted, big.skipped) == (Limits().max_tracks_per_message, 200)
    artists, albums = await _count(db, Artist), await _count(db, Album)
    # The same hashes again under new names: nothing new is created, and the quota does not count them twice.
    renamed = [announcement(A, i, artist_name=f"New {i}", album_title=f"New {i}") for i in range(100)]
    async with db.transaction() as session:
        again = await catalog.replicate(session, A, renamed, quota=Limits().max_tracks_per_message)
    assert (again.accepted, again.skipped) == (100, 0)
    assert (await _count(db, Artist), await _count(db, Album)) == (artists, albums)
    assert await _count(db, Track) == Limits().max_tracks_per_message


async def test_a_peer_cannot_put_covers_on_our_albums(db: Database) -> None:
    await _peers(db, A)
    cover = "f" * 64
    async with db.transaction() as session:
        await catalog.replicate(session, A, [announcement(A, 1, album_title="Ours", artist_name="Me")], quota=10)
        await session.execute(update(Track).values(origin_node=None, file_path="ab/x"))  # our own album now
        await session.execute(text(f"INSERT INTO covers (hash, mime, size) VALUES ('{cover}', 'image/png', 1)"))
        await catalog.replicate(
            session,
            A,
            [
                announcement(A, 2, album_title="Ours", artist_name="Me", cover_hash=cover),
                announcement(A, 3, album_title="Theirs", artist_name="Me", cover_hash=cover),
            ],
            quota=10,
        )
        covers = dict((await session.execute(select(Album.title, Album.cover_hash))).all())
    assert covers == {"Ours": None, "Theirs": cover}


async def test_an_upper_case_format_is_stored_lower_case(db: Database) -> None:
    await _peers(db, A)
    async with db.transaction() as session:
        await catalog.replicate(session, A, [announcement(A, 1, format="FLAC")], quota=10)
        assert (await session.scalars(select(Track.format))).one() == "flac"


async def test_album_artist_and_covers_to_fetch(db: Database) -> None:
    await _peers(db, A)
    cover = "f" * 64
    tracks = [
        announcement(A, 1, album_title="Split", artist_name="X", album_artist_name="Various", cover_hash=cover),
        announcement(A, 2, album_title="Split", artist_name="Y", album_artist_name="Various", cover_hash=cover),
        announcement(A, 3, album_title=None, cover_hash=None),
    ]
    async with db.transaction() as session:
        result = await catalog.replicate(session, A, tracks, quota=10)
        albums = (await session.scalars(select(Album))).all()
        artists = set((await session.scalars(select(Artist.name))).all())
    assert len(albums) == 1
    assert {"X", "Y", "Various"} <= artists
    assert result.missing_covers == {cover: [albums[0].id, albums[0].id]}


async def test_catalog_pages_are_stable_keyset_pages_of_our_own_tracks(db: Database) -> None:
    await _peers(db, A)
    async with db.transaction() as session:
        for start in range(0, 1203, 500):
            page = [announcement(A, i) for i in range(start, min(start + 500, 1203))]
            await catalog.replicate(session, A, page, quota=10_000)
        # Make the first 1,100 ours (created at distinct times); the rest stay replicated from A.
        await session.execute(
            text(
                "UPDATE tracks SET origin_node = NULL, file_path = 'x', created_at = now() - make_interval(secs => n) "
                "FROM (SELECT id, row_number() OVER (ORDER BY content_hash) AS n FROM tracks) o "
                "WHERE tracks.id = o.id AND o.n <= 1100"
            )
        )
    pages = [page async for page in catalog.catalog_pages(db, ME, None, page_size=Limits().catalog_page_size)]
    assert [len(p) for p in pages] == [500, 500, 100]
    hashes = [t.hash for page in pages for t in page]
    assert len(set(hashes)) == 1100
    assert {t.origin_node for page in pages for t in page} == {ME}

    async with db.transaction() as session:
        since = await repo.database_now(session)
        await session.execute(
            update(Track)
            .where(Track.content_hash == hashes[5])
            .values(title="Changed", updated_at=since + timedelta(1))
        )
    (delta,) = [page async for page in catalog.catalog_pages(db, ME, since, page_size=Limits().catalog_page_size)]
    assert [(t.hash, t.title) for t in delta] == [(hashes[5], "Changed")]


# --- ingest page by page


async def _ingest(db: Database, sender: str, pages: list[list[Any]]) -> list[catalog.Replicated]:
    """Each page in its own transaction, the count carried from page to page as the node does."""
    results, offered = [], None
    for page in pages:
        async with db.transaction() as session:
            result = await catalog.replicate(session, sender, page, quota=10_000, offered=offered)
        offered = result.offered
        results.append(result)
    return results


async def _counts(db: Database) -> dict[str, int]:
    """Rows per table, and "sources": every (track, peer) offering it (the origin needs no row of its own)."""
    async with db.transaction() as session:
        return {
            name: int((await session.execute(select(func.count()).select_from(table))).scalar_one())
            for name, table in [
                ("artists", Artist),
                ("albums", Album),
                ("tracks", Track),
                ("sources", track_sources),
            ]
        }


async def _found(db: Database, words: str) -> set[str]:
    """Titles of the tracks whose search document has all of ``words`` (whole words)."""
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT title FROM tracks WHERE search_vector @@ exact_tsquery(:q)"), {"q": words}
        )
        return {title for (title,) in rows}


@pytest.mark.parametrize("sizes", [[499, 1], [500, 500, 1], [1, 500, 999]])
async def test_pages_of_any_size_are_committed_whole_and_searchable(db: Database, sizes: list[int]) -> None:
    await _peers(db, A)
    tracks = [announcement(A, i, title=f"Tune {i} zebra{i}") for i in range(sum(sizes))]
    pages, start = [], 0
    for size in sizes:
        pages.append(tracks[start : start + size])
        start += size
    results = await _ingest(db, A, pages)
    assert [r.accepted for r in results] == sizes
    assert results[-1].offered == sum(sizes)
    counts = await _counts(db)
    assert counts["tracks"] == counts["sources"] == sum(sizes)
    # the first and last track of every page can be found by a word of its own title, its artist and its album
    edges = [0, *[sum(sizes[: k + 1]) - 1 for k in range(len(sizes))], *[sum(sizes[:k]) for k in range(len(sizes))]]
    for index in set(edges):
        assert await _found(db, f"zebra{index}") == {f"Tune {index} zebra{index}"}
    assert len(await _found(db, f"artist {sizes[0] % 7}")) > 0
    async with db.transaction() as session:
        origins = (await session.execute(select(track_sources.c.node_id, track_sources.c.is_origin))).all()
        unsearchable = await session.execute(select(func.count()).where(Track.search_vector.is_(None)))
    assert set(origins) == {(A, True)}
    assert await _count(db, RemoteTrackSource) == 0  # the origin is their source without a row
    assert unsearchable.scalar_one() == 0


async def test_a_hostile_page_is_judged_track_by_track(db: Database) -> None:
    await _peers(db, A)
    good = [announcement(A, i, artist_name=f"Newcomer {i}", album_title=f"Debut {i}") for i in range(3)]
    page = [
        announcement(A, 10, hash="Z" * 64),  # bad hash: skipped
        announcement(A, 11, file_size=-1),  # impossible size: skipped
        announcement(A, 12, origin_node=C),  # another origin: skipped
        *good,
        announcement(A, 0, title="Second copy of track 0"),  # duplicate hash in the page: the first wins
        announcement(A, 20, title="x" * 5000, artist_name="\x00" * 3, year=20_000),  # repaired, kept
    ]
    (result,) = await _ingest(db, A, [page])
    assert (result.accepted, result.skipped) == (4, 3)
    async with db.transaction() as session:
        rows = dict((await session.execute(select(Track.content_hash, Track.title))).all())
        artists = set((await session.scalars(select(Artist.name))).all())
        albums = set((await session.scalars(select(Album.title))).all())
        repaired = (
            await session.execute(select(Track.title, Track.year).where(Track.content_hash == page[-1].hash))
        ).one()
    assert rows[good[0].hash] == "Song 0"
    assert len(rows) == 4
    assert {"Newcomer 0", "Newcomer 1", "Newcomer 2", "Unknown Artist"} <= artists
    assert {"Debut 0", "Debut 1", "Debut 2"} <= albums
    assert (len(repaired.title), repaired.year) == (255, None)


async def test_a_page_that_fails_part_way_leaves_nothing_and_arrives_whole_when_sent_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _peers(db, A)
    page = [announcement(A, i, artist_name=f"Fresh {i % 3}", album_title=f"Fresh album {i % 5}") for i in range(700)]

    async def broken(*_: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(repo, "existing_covers", broken)  # after artists, albums, tracks and sources were written
    with pytest.raises(RuntimeError):
        await _ingest(db, A, [page])
    assert await _counts(db) == {"artists": 0, "albums": 0, "tracks": 0, "sources": 0}
    monkeypatch.undo()
    (result,) = await _ingest(db, A, [page])
    assert result.accepted == 700
    assert await _counts(db) == {"artists": 3, "albums": 15, "tracks": 700, "sources": 700}


async def test_a_second_peer_offering_the_same_tracks_becomes_their_second_source(db: Database) -> None:
    await _peers(db, A, C)
    await _ingest(db, A, [[announcement(A, i) for i in range(600)]])
    results = await _ingest(db, C, [[announcement(C, i, origin_node=C) for i in range(300, 900)]])
    assert results[0].accepted == 600
    async with db.transaction() as session:
        per_node = dict(
            (
                await session.execute(select(track_sources.c.node_id, func.count()).group_by(track_sources.c.node_id))
            ).all()
        )
        origins = dict(
            (await session.execute(select(Track.origin_node, func.count()).group_by(Track.origin_node))).all()
        )
        not_origin = await session.execute(
            select(func.count()).where(track_sources.c.node_id == C, ~track_sources.c.is_origin)
        )
    assert per_node == {A: 600, C: 600}
    assert origins == {A: 600, C: 300}
    assert not_origin.scalar_one() == 300  # C's copies of A's tracks


async def test_covers_of_a_page_are_shown_on_the_albums_that_want_them(db: Database) -> None:
    await _peers(db, A)
    stored, other, missing = "1" * 64, "2" * 64, "3" * 64
    async with db.transaction() as session:
        for digest in (stored, other):
            await session.execute(
                text("INSERT INTO covers (hash, mime, size) VALUES (:h, 'image/png', 1)"), {"h": digest}
            )
    page = [
        announcement(A, 1, album_title="One", artist_name="X", cover_hash=stored),
        announcement(A, 2, album_title="One", artist_name="X", cover_hash=other),  # a second cover: the smaller
        announcement(A, 3, album_title="Two", artist_name="X", cover_hash=other),
        announcement(A, 4, album_title="Three", artist_name="X", cover_hash=missing),
    ]
    (result,) = await _ingest(db, A, [page])
    async with db.transaction() as session:
        covers = dict((await session.execute(select(Album.title, Album.cover_hash))).all())
    assert covers == {"One": stored, "Two": other, "Three": None}
    assert list(result.missing_covers) == [missing]


def test_new_track_ids_are_distinct_time_ordered_version_7_uuids() -> None:
    before = time.time_ns() // 1_000_000
    ids = repo.new_track_ids(2000)
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(text) for text in ids]
    assert [str(u) for u in parsed] == ids
    assert len(set(parsed)) == 2000
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    assert all(before <= u.int >> 80 <= after for u in parsed)  # the first 48 bits: milliseconds since 1970
    time.sleep(0.002)
    assert uuid.UUID(repo.new_track_ids(1)[0]) > max(parsed)  # made later, sorted after
    assert repo.new_track_ids(0) == []


@pytest.mark.parametrize(
    ("content_hash", "origin_node"),
    [
        ("a" * 63, A),
        ("A" * 64, A),
        ("g" * 64, A),
        ("a" * 63 + " ", A),
        ("é" * 64, A),
        ("a" * 64, "a" * 63),
        ("a" * 64, "0123456789ABCDEF" * 4),
    ],
)
async def test_the_database_refuses_a_track_hash_or_origin_that_is_not_64_lowercase_hex(
    db: Database, content_hash: str, origin_node: str
) -> None:
    await _peers(db, A)
    async with db.transaction() as session:
        await catalog.replicate(session, A, [announcement(A, 1)], quota=10)  # a valid row: its artist, album
    insert = text(
        "INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_size, origin_node) "
        "SELECT gen_random_uuid(), 'x', artist_id, 1, 'flac', :hash, 1, :origin FROM tracks LIMIT 1"
    )
    with pytest.raises(IntegrityError, match="ck_tracks_"):
        async with db.transaction() as session:
            await session.execute(insert, {"hash": content_hash, "origin": origin_node})
    async with db.transaction() as session:  # the same row with both right is taken
        await session.execute(insert, {"hash": "0123456789abcdef" * 4, "origin": "abcdef0123456789" * 4})
    assert await _count(db, Track) == 2


async def _turns(gate: catalog.IngestGate, plan: list[tuple[int, int]], quota: int) -> list[str]:
    """Run turns of (wanted, added) tracks, each ending when the next starts or 50 ms pass; the order of events."""
    events: list[str] = []

    async def ingest(name: int, wanted: int, added: int) -> None:
        async with gate.turn(wanted, quota) as turn:
            events.append(f"start {name} at {turn.offered}")
            await asyncio.sleep(0.05)
            base = turn.offered if turn.offered is not None else 0
            turn.done(catalog.Replicated(accepted=added, offered=base + added))
            events.append(f"end {name}")

    tasks = []
    for name, (wanted, added) in enumerate(plan):
        tasks.append(asyncio.create_task(ingest(name, wanted, added)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return events


async def test_a_senders_first_message_is_ingested_alone_then_two_at_a_time() -> None:
    gate = catalog.IngestGate(lambda: 2, offered=None)
    events = await _turns(gate, [(500, 500), (500, 500), (500, 500), (500, 500)], quota=10_000)
    # the first alone (its count is read), then two at once, each told what the other may add
    assert events[:2] == ["start 0 at None", "end 0"]
    assert events[2:4] == ["start 1 at 500", "start 2 at 1000"]
    assert events.index("start 3 at 1500") > events.index("end 1")  # 1,000 counted + 500 that 2 may add
    assert gate.offered == 2000


async def test_messages_that_could_reach_the_quota_are_ingested_one_at_a_time() -> None:
    gate = catalog.IngestGate(lambda: 2, offered=9_000)
    events = await _turns(gate, [(500, 500), (500, 300), (500, 0)], quota=9_999)
    assert events[0] == "start 0 at 9000"
    assert events[1] == "end 0"  # 9,000 + 500 running + 500 more could pass 9,999: the second waited
    assert events[2:] == ["start 1 at 9500", "end 1", "start 2 at 9800", "end 2"]
    assert gate.offered == 9_800


async def test_a_failed_turn_gives_its_place_back() -> None:
    gate = catalog.IngestGate(lambda: 1, offered=0)
    with pytest.raises(RuntimeError):
        async with gate.turn(500, 10_000):
            raise RuntimeError("the database went away")
    assert gate.offered == 0
    async with asyncio.timeout(1):
        async with gate.turn(500, 10_000) as turn:
            assert turn.offered == 0


# --- the node's side: pages checked ahead of their turn, pages in flight to a peer of ours


class _Peer:
    """A fake messenger: a Pong for a Ping, and CatalogSync sends held until released (to count those in flight)."""

    def __init__(self, node_id: str, version: str | PeerError | None) -> None:
        self.node_id = node_id
        self.version = version
        self.pings = 0
        self.in_flight: list[asyncio.Future[None]] = []
        self.most_in_flight = 0
        self.pages: list[list[str]] = []
        #: When set, our Ping is answered only once this is done.
        self.answer: asyncio.Future[None] | None = None

    async def request(self, node_id: str, message: wire.Message, *, within: float | None = None) -> wire.Message:
        assert isinstance(message, wire.Ping)
        self.pings += 1
        if self.answer is not None:
            await self.answer
        if isinstance(self.version, PeerError):
            raise self.version
        return wire.Pong(node_id=node_id, track_count=0, version=self.version)

    async def send(self, node_id: str, message: wire.Message) -> None:
        assert isinstance(message, wire.CatalogSync)
        self.pages.append([t.hash for t in message.tracks])
        delivered = asyncio.get_running_loop().create_future()
        self.in_flight.append(delivered)
        self.most_in_flight = max(self.most_in_flight, len([f for f in self.in_flight if not f.done()]))
        await delivered


def _node_sync(
    db: Database, tmp_path: Path, messenger: object = None, last_play: LastSeen | None = None, **limits: int
) -> tuple[CatalogSync, Jobs]:
    jobs = Jobs("test catalog sync")

    async def unreachable(_: str) -> None:
        return None

    sync = CatalogSync(
        db=db,
        own=OwnNode(node_id=ME),
        policy=Policy(limits=Limits(**limits)),
        jobs=jobs,
        messenger=messenger,  # type: ignore[arg-type]
        blocklist=Blocklist(),
        covers=BlobStore(tmp_path / "covers"),
        unreachable=unreachable,
        catalogue_changed=lambda: None,
        page_received=lambda *_: None,
        last_play=last_play,
    )
    return sync, jobs


class Blocklist:
    def is_blocked(self, node_id: str) -> bool:
        return False


@pytest.mark.parametrize("concurrent_ingests", [1, 2])
async def test_pages_of_one_sender_arriving_together_stop_exactly_at_its_quota(
    db: Database, tmp_path: Path, concurrent_ingests: int
) -> None:
    await _peers(db, A)
    sync, jobs = _node_sync(db, tmp_path, max_tracks_per_peer=1234, concurrent_ingests=concurrent_ingests)
    pages = [[announcement(A, p * 500 + i) for i in range(500)] for p in range(5)]
    try:
        results = await asyncio.gather(*(sync.replicate(A, page) for page in pages))  # as a push window delivers
    finally:
        await jobs.close()
    assert sum(r.accepted for r in results) == 1234
    assert sum(r.skipped for r in results) == 2500 - 1234
    counts = await _counts(db)
    assert counts["tracks"] == counts["sources"] == 1234


@pytest.mark.parametrize(("played_seconds_ago", "most_at_once"), [(None, 2), (5.0, 1), (31.0, 2)])
async def test_a_senders_pages_are_ingested_one_at_a_time_while_people_listen(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, played_seconds_ago: float | None, most_at_once: int
) -> None:
    await _peers(db, A)
    now = 1000.0
    last_play = LastSeen(clock=lambda: now)
    if played_seconds_ago is not None:
        now -= played_seconds_ago
        last_play.mark()
        now += played_seconds_ago
    sync, jobs = _node_sync(db, tmp_path, last_play=last_play, concurrent_ingests=2)
    running, most = 0, 0
    write = catalog.write

    async def counted(session: Any, sender: str, prepared: catalog.Prepared, **kwargs: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.02)
            return await write(session, sender, prepared, **kwargs)
        finally:
            running -= 1

    monkeypatch.setattr(catalog, "write", counted)
    pages = [[announcement(A, p * 50 + i) for i in range(50)] for p in range(5)]
    try:
        results = await asyncio.gather(*(sync.replicate(A, page) for page in pages))
    finally:
        await jobs.close()
    assert sum(r.accepted for r in results) == 250
    assert (await _counts(db))["tracks"] == 250
    assert most == most_at_once


async def test_a_page_failing_in_the_pipeline_loses_nothing_committed_before_or_after_it(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _peers(db, A)
    sync, jobs = _node_sync(db, tmp_path)
    pages = [[announcement(A, p * 100 + i, album_title=f"Page {p}") for i in range(100)] for p in range(4)]
    write = catalog.write

    async def third_fails(session: Any, sender: str, prepared: catalog.Prepared, **kwargs: Any) -> Any:
        result = await write(session, sender, prepared, **kwargs)  # its rows are written, then the database fails
        if prepared.tracks[0].album_title == "Page 2":
            raise RuntimeError("the database went away")
        return result

    monkeypatch.setattr(catalog, "write", third_fails)
    try:
        results = await asyncio.gather(*(sync.replicate(A, page) for page in pages), return_exceptions=True)
        assert [isinstance(r, RuntimeError) for r in results] == [False, False, True, False]
        async with db.transaction() as session:
            albums = set((await session.scalars(select(Album.title))).all())
        assert albums == {"Page 0", "Page 1", "Page 3"}
        assert (await _counts(db))["sources"] == 300
        monkeypatch.undo()
        again = await sync.replicate(A, pages[2])  # the sender's retry: the count kept for it is still right
    finally:
        await jobs.close()
    assert (again.accepted, again.offered) == (100, 400)
    counts = await _counts(db)
    assert counts["tracks"] == counts["sources"] == 400


async def _own_tracks(db: Database, count: int) -> None:
    await _peers(db, A)
    async with db.transaction() as session:
        await catalog.replicate(session, A, [announcement(A, i) for i in range(count)], quota=10_000)
        await session.execute(text("UPDATE tracks SET origin_node = NULL, file_path = 'x'"))
        await session.execute(text("DELETE FROM remote_track_sources"))


async def _until(condition: Callable[[], bool]) -> None:
    async def check() -> bool:
        return condition()

    await eventually(check, interval=0.005)


@pytest.mark.parametrize(("known", "answered"), [(None, VERSION), (VERSION, None)])
async def test_a_push_to_a_peer_of_ours_keeps_several_pages_in_flight(
    db: Database, tmp_path: Path, known: str | None, answered: str | None
) -> None:
    await _own_tracks(db, 20)
    await _peers(db, C)
    if known is not None:
        async with db.transaction() as session:
            await repo.record_pong(session, C, 0, known)
    peer = _Peer(C, answered)
    sync, jobs = _node_sync(db, tmp_path, peer, push_window=4, catalog_page_size=2)
    try:
        sync.push(C, full=True, min_interval=0)
        await _until(lambda: len(peer.in_flight) == 4)  # four pages out before the first is acknowledged
        while len(peer.pages) < 10:
            peer.in_flight[len(peer.pages) - 4].set_result(None)
            await _until(lambda: len(peer.pages) == 10 or all(not f.done() for f in peer.in_flight[-4:]))
    finally:
        for delivered in peer.in_flight:
            if not delivered.done():
                delivered.set_result(None)
        await jobs.close()
    assert peer.pings == (1 if known is None else 0)  # a peer that only pinged us is asked who it is
    assert peer.most_in_flight == 4
    assert len({h for page in peer.pages for h in page}) == 20
    async with db.transaction() as session:
        recorded = await repo.get_peer(session, C)
    assert recorded is not None
    assert recorded.version == VERSION  # its answer is kept: the next push needs no Ping


async def test_a_push_to_a_peer_not_heard_yet_sends_its_first_page_before_the_peer_says_who_it_is(
    db: Database, tmp_path: Path
) -> None:
    await _own_tracks(db, 20)
    await _peers(db, C)  # it pinged us: its version is not known
    peer = _Peer(C, VERSION)
    peer.answer = asyncio.get_running_loop().create_future()
    sync, jobs = _node_sync(db, tmp_path, peer, push_window=4, catalog_page_size=2)
    try:
        sync.push(C, full=True, min_interval=0)
        await _until(lambda: len(peer.pages) == 1 and peer.pings == 1)  # our Ping is still unanswered
        assert not peer.answer.done()
        peer.answer.set_result(None)  # it runs our code: the window opens, the first page still unacknowledged
        await _until(lambda: len(peer.in_flight) == 4)
    finally:
        for delivered in peer.in_flight:
            if not delivered.done():
                delivered.set_result(None)
        await jobs.close()
    assert peer.most_in_flight == 4


@pytest.mark.parametrize("answered", [None, "0.9.0", PeerUnavailable("no answer within 10 s")])
async def test_a_push_to_another_implementation_sends_one_page_at_a_time(
    db: Database, tmp_path: Path, answered: str | PeerError | None
) -> None:
    await _own_tracks(db, 10)
    await _peers(db, C)
    peer = _Peer(C, answered)
    sync, jobs = _node_sync(db, tmp_path, peer, push_window=4, catalog_page_size=2)
    try:
        sync.push(C, full=True, min_interval=0)
        for sent in range(1, 6):
            await _until(lambda: len(peer.pages) == sent)  # noqa: B023 - awaited here
            peer.in_flight[-1].set_result(None)
    finally:
        await jobs.close()
    assert peer.pings == 1
    assert peer.most_in_flight == 1
    assert len({h for page in peer.pages for h in page}) == 10
