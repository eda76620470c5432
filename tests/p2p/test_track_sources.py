"""Sources of replicated tracks (real PostgreSQL): the peer that announced a track is its source without a row of
its own, yet every reader sees it as a source like any other (the downloads' walk, the health sweep, quotas, the
admin lists); its failures and a lie about a track are recorded on a row of its own."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from soundtime.kit.db import Database
from soundtime.models import RemoteTrackSource, Track
from soundtime.p2p import catalog
from soundtime.p2p import repository as repo
from soundtime.p2p.health import repository as health_repo
from soundtime.p2p.library_sync import repository as library_sync_repo
from soundtime.p2p.plans.sources import SourceRow
from tests.p2p.test_catalog import A, C, _peers
from tests.support.soundtime_peer import announcement


async def _offer(db: Database, sender: str, indexes: range) -> list[uuid.UUID]:
    """``sender`` announces tracks ``indexes`` as its own (the same index is the same hash from any peer); their
    ids, in that order."""
    tracks = [announcement(sender, i, origin_node=sender) for i in indexes]
    async with db.transaction() as session:
        result = await catalog.replicate(session, sender, tracks, quota=10_000)
        assert result.accepted == len(tracks)
        ids = dict((await session.execute(select(Track.content_hash, Track.id))).all())
    return [ids[t.hash] for t in tracks]


async def _rows(db: Database) -> list[tuple[str, bool, int, bool]]:
    """The rows of ``remote_track_sources``: (node, is_origin, failures, withdrawn)."""
    async with db.transaction() as session:
        stmt = select(
            RemoteTrackSource.node_id,
            RemoteTrackSource.is_origin,
            RemoteTrackSource.failure_count,
            RemoteTrackSource.withdrawn,
        ).order_by(RemoteTrackSource.node_id)
        return [tuple(row) for row in await session.execute(stmt)]  # type: ignore[misc]


ORIGIN = SourceRow(A, is_origin=True, online=True, failure_count=0)


async def test_the_origin_is_the_source_of_its_tracks_without_a_row(db: Database) -> None:
    await _peers(db, A)
    ids = await _offer(db, A, range(3))
    assert await _rows(db) == []
    hashes = [announcement(A, i).hash for i in range(3)]
    async with db.transaction() as session:
        assert await repo.sources_of(session, ids[0]) == [ORIGIN]
        assert await health_repo.sources_of_many(session, ids[:2]) == {ids[0]: [ORIGIN], ids[1]: [ORIGIN]}
        assert await repo.source_count(session, A) == 3
        assert await repo.known_hashes(session, A, [hashes[0], "f" * 64]) == {hashes[0]: True}
        listed = await health_repo.remote_tracks(session, 10, None, None)
        [synced] = await library_sync_repo.peer_sync(session, [], A)
    assert [row["source_count"] for row in listed] == [1, 1, 1]
    assert (synced.tracks_catalogued, synced.tracks_playable) == (3, 3)
    # Offered again by its origin: still no row, nothing counted twice.
    assert await _offer(db, A, range(3)) == ids
    assert await _rows(db) == []
    async with db.transaction() as session:
        assert await repo.source_count(session, A) == 3


async def test_another_peer_offering_the_track_gets_a_row_next_to_the_origin(db: Database) -> None:
    await _peers(db, A, C)
    ids = await _offer(db, A, range(3))
    await _offer(db, C, range(1, 3))  # C offers copies of two of A's tracks
    await _offer(db, C, range(10, 11))  # and one of its own
    assert await _rows(db) == [(C, False, 0, False), (C, False, 0, False)]
    async with db.transaction() as session:
        assert await repo.sources_of(session, ids[1]) == [ORIGIN, SourceRow(C, False, True, 0)]
        assert await repo.sources_of(session, ids[0]) == [ORIGIN]
        assert (await repo.source_count(session, A), await repo.source_count(session, C)) == (3, 3)
        listed = await health_repo.remote_tracks(session, 10, None, None)
    assert sorted(row["source_count"] for row in listed) == [1, 1, 2, 2]


async def test_failures_of_the_origin_are_counted_on_a_row_of_its_own(db: Database) -> None:
    await _peers(db, A)
    ids = await _offer(db, A, range(2))
    async with db.transaction() as session:
        await repo.record_source_result(session, ids[1], A, ok=True)  # a success of an origin without a row
    assert await _rows(db) == []
    for _ in range(2):
        async with db.transaction() as session:
            await repo.record_source_result(session, ids[0], A, ok=False)
    assert await _rows(db) == [(A, True, 2, False)]
    async with db.transaction() as session:
        assert await repo.sources_of(session, ids[0]) == [SourceRow(A, True, True, 2)]
        assert await repo.sources_of(session, ids[1]) == [ORIGIN]
        assert await repo.source_count(session, A) == 2  # the row is not counted twice
        await repo.record_source_result(session, ids[0], A, ok=True)
        assert await repo.sources_of(session, ids[0]) == [ORIGIN]


async def test_an_origin_that_lied_is_no_source_until_it_offers_the_track_again(db: Database) -> None:
    await _peers(db, A, C)
    ids = await _offer(db, A, range(2))
    await _offer(db, C, range(2))
    digest = announcement(A, 0).hash
    async with db.transaction() as session:
        await repo.drop_source(session, ids[0], A)  # served bytes that did not match the hash
        await repo.drop_source(session, ids[1], C)
    async with db.transaction() as session:
        assert await repo.sources_of(session, ids[0]) == [SourceRow(C, False, True, 0)]
        assert await repo.sources_of(session, ids[1]) == [ORIGIN]
        assert await repo.known_hashes(session, A, [digest]) == {digest: False}
        [synced] = await library_sync_repo.peer_sync(session, [], A)
    assert synced.tracks_catalogued == 1
    assert await _rows(db) == [(A, True, 0, True), (C, False, 0, False)]
    await _offer(db, A, range(1))  # A announces it again: its source again
    async with db.transaction() as session:
        assert await repo.sources_of(session, ids[0]) == [ORIGIN, SourceRow(C, False, True, 0)]
    assert await _rows(db) == [(A, True, 0, False), (C, False, 0, False)]


async def test_a_forgotten_origin_is_no_source_of_the_tracks_it_leaves(db: Database) -> None:
    await _peers(db, A)
    ids = await _offer(db, A, range(2))
    async with db.transaction() as session:
        await repo.record_source_result(session, ids[0], A, ok=False)
        assert await repo.delete_peer(session, A)
    async with db.transaction() as session:
        assert await repo.sources_of(session, ids[0]) == []
        assert await health_repo.sources_of_many(session, ids) == {ids[0]: [], ids[1]: []}
        assert (await session.execute(select(func.count()).select_from(Track))).scalar_one() == 2
    assert await _rows(db) == []
