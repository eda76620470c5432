"""Replication of announced tracks into rows, and our catalog in keyset pages (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, text, update

from soundtime.kit.db import Database
from soundtime.models import Album, Artist, RemoteTrackSource, Track
from soundtime.p2p import catalog
from soundtime.p2p import repository as repo
from soundtime.p2p.policy import Limits
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
            await session.execute(select(RemoteTrackSource.track_id, func.count()).group_by(RemoteTrackSource.track_id))
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
    pages = [page async for page in catalog.catalog_pages(db, ME, None)]
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
    (delta,) = [page async for page in catalog.catalog_pages(db, ME, since)]
    assert [(t.hash, t.title) for t in delta] == [(hashes[5], "Changed")]
