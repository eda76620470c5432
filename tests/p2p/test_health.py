"""Track health of replicated tracks: persisted states, recoveries, the sweep and the admin API (real instances)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from blake3 import blake3
from sqlalchemy import func, select, text

from soundtime.kit.db import Database
from soundtime.models import InstanceSetting, Track, TrackHealth, track_sources
from soundtime.p2p import catalog
from soundtime.p2p import repository as p2p_repo
from soundtime.p2p.health import HealthKeeper, record_failure, record_success, state_of
from soundtime.p2p.health.repository import REPORT_KEY
from soundtime.p2p.policy import Limits, Policy, Timings
from soundtime.p2p.transport import normalize_node_id, parse_peer_address
from soundtime.p2p.wire import FetchTrack, TrackAnnouncement
from tests.p2p.conftest import Instance, eventually
from tests.support.api import bearer, open_registration, register
from tests.support.soundtime_peer import FakeSoundTime, announcement

HEALTH = "/api/admin/p2p/health"
REMOTE = "/api/admin/remote-tracks"


def _tracks_path(track_id: object, action: str) -> str:
    return f"/api/admin/p2p/tracks/{track_id}/{action}"


def random_node_id() -> str:
    """A valid node id nobody uses (about half of all 32-byte strings are Ed25519 points)."""
    while True:
        try:
            return normalize_node_id(secrets.token_hex(32))
        except ValueError:
            continue


@pytest.fixture
async def fake() -> AsyncIterator[FakeSoundTime]:
    peer = await FakeSoundTime.start()
    try:
        yield peer
    finally:
        await peer.close()


def keeper_of(instance: Instance) -> HealthKeeper:
    """The node's keeper."""
    return instance.node.health


def another_keeper(instance: Instance, *, timings: Timings | None = None, limits: Limits | None = None) -> HealthKeeper:
    """A second keeper on the instance's node, with its own policy."""
    node = instance.node
    policy = Policy(timings=timings or node.policy.timings, limits=limits or node.policy.limits)
    return HealthKeeper(
        db=node.db, policy=policy, jobs=node.jobs, messenger=node.messenger, blocklist=node.peers, cache=node.cache
    )


async def replicate(instance: Instance, sender: str, tracks: list[TrackAnnouncement]) -> list[uuid.UUID]:
    """Replicated rows for ``tracks`` announced by ``sender`` (registered as a peer); their ids in order."""
    async with instance.context.db.transaction() as session:
        await p2p_repo.touch_peer(session, sender, source="seed")
        result = await catalog.replicate(session, sender, tracks, quota=100_000)
        assert result.accepted == len(tracks)
        rows = await session.execute(
            select(Track.content_hash, Track.id).where(Track.content_hash.in_([t.hash for t in tracks]))
        )
        ids = dict(rows.all())
    return [ids[t.hash] for t in tracks]


async def serving(instance: Instance, peer: FakeSoundTime) -> str:
    """Register a fake SoundTime peer (with its address) so the node can probe it."""
    await instance.node.peers.add(parse_peer_address(peer.dial_address()), source="manual")
    return peer.node_id


def offer(peer: FakeSoundTime, track: TrackAnnouncement, *, size: int | None = None) -> None:
    """Let ``peer`` serve a blob of the track's size (or of ``size``) under the track's hash."""
    peer.blobs[track.hash] = b"\x01" * (track.file_size if size is None else size)


async def fail(db: Database, track_id: uuid.UUID, times: int = 1, error: str = "stalled") -> str:
    state = ""
    for _ in range(times):
        async with db.transaction() as session:
            state = await record_failure(session, track_id, error)
    return state


async def succeed(db: Database, track_id: uuid.UUID) -> None:
    async with db.transaction() as session:
        await record_success(session, track_id)


async def health(db: Database, track_id: uuid.UUID) -> TrackHealth | None:
    async with db.transaction() as session:
        return await session.get(TrackHealth, track_id)


async def summary(instance: Instance) -> dict[str, Any]:
    response = await instance.client.get(HEALTH, headers=instance.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


# --- transitions ----------------------------------------------------------------------------------------------


async def test_strikes_successes_and_concurrent_failures_persist_across_a_restart(start_instance: Any) -> None:
    a: Instance = await start_instance("a", keep_data=True)
    dead = random_node_id()
    one, two, three = await replicate(a, dead, [announcement(dead, i) for i in range(3)])
    db = a.context.db

    async with db.transaction() as session:
        assert await state_of(session, one) == "healthy"
    assert await health(db, one) is None  # no row: healthy

    # Three consecutive strikes dereference; each records when and why.
    assert await fail(db, one, error="peer went away") == "degraded"
    row = await health(db, one)
    assert row is not None
    assert (row.state, row.consecutive_failures, row.last_error) == ("degraded", 1, "peer went away")
    assert row.last_failure_at is not None
    assert await fail(db, one) == "degraded"
    assert await fail(db, one, error="x" * 5000) == "dereferenced"
    row = await health(db, one)
    assert row is not None
    assert (row.state, row.consecutive_failures) == ("dereferenced", 3)
    assert row.last_error is not None
    assert 0 < len(row.last_error) <= 500

    # A verified transfer brings it back as recovered with a clean count; it stays recovered.
    await succeed(db, one)
    row = await health(db, one)
    assert row is not None
    assert (row.state, row.consecutive_failures) == ("recovered", 0)
    assert row.last_success_at is not None
    await succeed(db, one)
    assert (await health(db, one)).state == "recovered"  # type: ignore[union-attr]
    # One failure after recovering degrades again; a success on a healthy track keeps it healthy.
    assert await fail(db, one) == "degraded"
    await succeed(db, one)
    await succeed(db, two)
    row = await health(db, two)
    assert row is not None
    assert (row.state, row.consecutive_failures) == ("healthy", 0)

    # Concurrent strikes on one track are all counted (row lock), none lost.
    states = await asyncio.gather(*(fail(db, three) for _ in range(6)))
    assert sorted(states).count("dereferenced") == 4
    assert (await health(db, three)).consecutive_failures == 6  # type: ignore[union-attr]

    # Unknown tracks: healthy, and no row is made for them.
    ghost = uuid.uuid4()
    assert await fail(db, ghost) == "healthy"
    assert await health(db, ghost) is None

    await start_instance.stop("a")
    a = await start_instance("a")
    db = a.context.db
    async with db.transaction() as session:
        assert [await state_of(session, t) for t in (one, two, three)] == ["recovered", "healthy", "dereferenced"]
    body = await summary(a)
    assert body["counts"] == {"healthy": 1, "recovered": 1, "degraded": 0, "dereferenced": 1}
    assert body["total"] == 3
    assert body["manually_dereferenced"] == 0
    assert body["last_sweep"] is None


async def test_manual_dereference_is_sticky_until_rereferenced(start_instance: Any, fake: FakeSoundTime) -> None:
    a: Instance = await start_instance("a")
    origin = await serving(a, fake)
    audio = b"pinned audio" * 50
    announced = [announcement(origin, 0, hash=blake3(audio).hexdigest(), file_size=len(audio))]
    announced += [announcement(origin, i) for i in (1, 2)]
    for track in announced:
        offer(fake, track)  # every source answers: only the manual pin keeps a track out
    pinned, automatic, fine = await replicate(a, origin, announced)
    db = a.context.db
    await fail(db, pinned)
    writer = a.context.cache.store.writer()
    writer.write(audio)
    assert await a.context.cache.admit(writer.finish())
    listing = (await a.client.get(REMOTE, headers=a.headers)).json()
    assert {item["id"]: item["cached"] for item in listing["items"]} == {
        str(pinned): True,
        str(automatic): False,
        str(fine): False,
    }

    response = await a.client.patch(_tracks_path(pinned, "dereference"), headers=a.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["track_id"] == str(pinned)
    assert (body["state"], body["manually_dereferenced"], body["consecutive_failures"]) == ("dereferenced", True, 1)
    assert announced[0].hash not in a.context.cache  # a dereferenced track's cached audio is freed

    # Plays do not change it ...
    assert await fail(db, pinned) == "dereferenced"
    await succeed(db, pinned)
    row = await health(db, pinned)
    assert row is not None
    assert (row.state, row.consecutive_failures, row.manually_dereferenced) == ("dereferenced", 1, True)

    # ... nor do sweeps, which do re-reference the automatically dereferenced track whose source answers.
    await fail(db, automatic, times=3)
    keeper = keeper_of(a)
    for _ in range(2):
        report = await keeper.sweep()
        row = await health(db, pinned)
        assert row is not None
        assert (row.state, row.manually_dereferenced) == ("dereferenced", True)
    assert (await health(db, automatic)).state == "recovered"  # type: ignore[union-attr]
    assert report.counts.model_dump() == {"healthy": 1, "recovered": 1, "degraded": 0, "dereferenced": 1}
    # The pinned track was never probed; the automatic one was (in the first sweep).
    asked = {r.message.hash for r in fake.of_type(FetchTrack)}  # type: ignore[attr-defined]
    assert announced[1].hash in asked
    assert announced[0].hash not in asked
    assert announced[2].hash not in asked  # healthy tracks are only counted

    listing = (await a.client.get(REMOTE, headers=a.headers)).json()
    by_id = {item["id"]: item for item in listing["items"]}
    assert by_id[str(pinned)]["state"] == "dereferenced"
    assert by_id[str(pinned)]["manually_dereferenced"] is True
    assert by_id[str(pinned)]["cached"] is False
    assert by_id[str(pinned)]["source_count"] == 1
    assert by_id[str(fine)]["state"] == "healthy"

    response = await a.client.patch(_tracks_path(pinned, "rereference"), headers=a.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["consecutive_failures"], body["manually_dereferenced"]) == ("healthy", 0, False)
    assert await fail(db, pinned) == "degraded"  # back under the usual rules


# --- recoveries and the sweep -----------------------------------------------------------------------------------


async def test_sweep_recovers_strikes_and_rereferences(start_instance: Any, fake: FakeSoundTime) -> None:
    a: Instance = await start_instance("a")
    db = a.context.db
    live = await serving(a, fake)
    dead = random_node_id()
    mirror = random_node_id()  # a dead origin whose tracks the live peer also offers
    cached_bytes = b"cached audio" * 100
    from_live = {
        "degraded_ok": announcement(live, 1),
        "degraded_wrong_size": announcement(live, 2),
        "dereferenced_ok": announcement(live, 3),
        "healthy": announcement(live, 4),
    }
    from_dead = {
        "degraded_gone": announcement(dead, 5),
        "dereferenced_gone": announcement(dead, 6),
        "dereferenced_cached": announcement(
            dead, 7, hash=blake3(cached_bytes).hexdigest(), file_size=len(cached_bytes)
        ),
    }
    mirrored = announcement(mirror, 8)
    ids = dict(zip(from_live, await replicate(a, live, list(from_live.values())), strict=True))
    ids |= dict(zip(from_dead, await replicate(a, dead, list(from_dead.values())), strict=True))
    (ids["mirrored"],) = await replicate(a, mirror, [mirrored])
    await replicate(a, live, [announcement(live, 8, origin_node=live, hash=mirrored.hash)])  # second source
    for name in ("degraded_ok", "dereferenced_ok"):
        offer(fake, from_live[name])
    offer(fake, from_live["degraded_wrong_size"], size=from_live["degraded_wrong_size"].file_size - 1)
    offer(fake, mirrored)
    writer = a.node.cache.store.writer()
    writer.write(cached_bytes)
    assert await a.node.cache.admit(writer.finish())

    for name in ("degraded_ok", "degraded_wrong_size", "degraded_gone", "mirrored"):
        await fail(db, ids[name])
    for name in ("dereferenced_ok", "dereferenced_gone", "dereferenced_cached"):
        await fail(db, ids[name], times=3)
    await succeed(db, ids["healthy"])  # a row, so its check is stamped

    report = await keeper_of(a).sweep()
    states = {}
    for name, track_id in ids.items():
        row = await health(db, track_id)
        assert row is not None
        states[name] = (row.state, row.consecutive_failures)
    assert states == {
        "degraded_ok": ("recovered", 0),
        "degraded_wrong_size": ("degraded", 2),
        "dereferenced_ok": ("recovered", 0),
        "healthy": ("healthy", 0),
        "degraded_gone": ("degraded", 2),
        "dereferenced_gone": ("dereferenced", 3),  # no answer: no further strike, not re-referenced
        "dereferenced_cached": ("recovered", 0),
        "mirrored": ("recovered", 0),
    }
    assert "announced" in ((await health(db, ids["degraded_wrong_size"])).last_error or "")  # type: ignore[union-attr]
    assert (await health(db, ids["healthy"])).last_checked_at is not None  # type: ignore[union-attr]
    assert (report.checked, report.recovered, report.struck, report.rereferenced) == (8, 2, 2, 2)
    assert report.counts.model_dump() == {"healthy": 1, "recovered": 4, "degraded": 2, "dereferenced": 1}

    # The origin is asked first; the copy offered by the live peer answered, and both outcomes are recorded.
    async with db.transaction() as session:
        sources = dict(
            (
                await session.execute(
                    select(track_sources.c.node_id, track_sources.c.failure_count).where(
                        track_sources.c.track_id == ids["mirrored"]
                    )
                )
            ).all()
        )
    assert sources == {mirror: 1, live: 0}

    # The report is served and persisted; a second sweep strikes the lost track into dereferenced.
    body = await summary(a)
    assert body["last_sweep"]["checked"] == 8
    assert body["last_sweep"]["recovered"] == 2
    assert body["counts"] == {"healthy": 1, "recovered": 4, "degraded": 2, "dereferenced": 1}
    async with db.transaction() as session:
        stored = await session.get(InstanceSetting, REPORT_KEY)
    assert stored is not None
    assert stored.value["struck"] == 2
    del fake.blobs[from_live["degraded_ok"].hash]  # a recovered track is not probed again by the sweep
    second = await keeper_of(a).sweep()
    assert (await health(db, ids["degraded_gone"])).state == "dereferenced"  # type: ignore[union-attr]
    assert (await health(db, ids["degraded_ok"])).state == "recovered"  # type: ignore[union-attr]
    assert second.struck == 2
    assert (await summary(a))["last_sweep"]["started_at"] != body["last_sweep"]["started_at"]


async def test_a_failed_play_is_recovered_once_without_a_second_strike(
    start_instance: Any, fake: FakeSoundTime
) -> None:
    a: Instance = await start_instance("a")
    db = a.context.db
    live = await serving(a, fake)
    dead = random_node_id()
    good = announcement(live, 1)
    offer(fake, good)
    (good_id,) = await replicate(a, live, [good])
    (lost_id,) = await replicate(a, dead, [announcement(dead, 2)])
    keeper = keeper_of(a)

    await fail(db, good_id)
    first = keeper.after_failed_play(good_id)
    again = keeper.after_failed_play(good_id)
    assert first is not None
    assert again is first  # one recovery at a time per track
    outcome = await first
    assert (outcome.answered, outcome.state) == (True, "recovered")
    assert len([r for r in fake.of_type(FetchTrack) if r.message.hash == good.hash]) == 1  # type: ignore[attr-defined]
    row = await health(db, good_id)
    assert row is not None
    assert (row.state, row.consecutive_failures) == ("recovered", 0)

    await fail(db, lost_id, times=2)
    task = keeper.after_failed_play(lost_id)
    assert task is not None
    outcome = await task
    assert (outcome.answered, outcome.state) == (False, "degraded")
    row = await health(db, lost_id)
    assert row is not None
    assert (row.state, row.consecutive_failures) == ("degraded", 2)  # the play's own strike only

    # Beyond the bounded queue, requests are dropped (not queued without limit).
    small = another_keeper(a, limits=replace(a.node.policy.limits, max_queued_recoveries=1))
    queued = small.after_failed_play(good_id)
    assert queued is not None
    assert small.after_failed_play(lost_id) is None
    assert small.after_failed_play(good_id) is queued  # joining the running one is not a new request
    assert (await queued).answered
    assert small.after_failed_play(lost_id) is not None  # room again once it finished


async def test_sweep_walks_every_replicated_track_once_in_keyset_batches(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    db = a.context.db
    dead = random_node_id()
    count = 1234
    async with db.transaction() as session:
        await p2p_repo.touch_peer(session, dead, source="seed")
        await session.execute(
            text(
                "WITH artist AS (INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Many') RETURNING id) "
                "INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_size, "
                "origin_node, file_path) "
                "SELECT gen_random_uuid(), 'Track ' || g, artist.id, 60, 'mp3', "
                "encode(sha256(('t' || g)::bytea), 'hex'), 1000 + g, "
                "CASE WHEN g % 100 = 0 THEN NULL ELSE CAST(:dead AS varchar) END, "
                "CASE WHEN g % 100 = 0 THEN 'x/' || g END "
                "FROM generate_series(1, :n) g, artist"
            ),
            {"dead": dead, "n": count + count // 99},
        )
        await session.execute(
            text(
                "INSERT INTO remote_track_sources (track_id, node_id, is_origin) "
                "SELECT id, origin_node, true FROM tracks WHERE origin_node IS NOT NULL"
            )
        )
        replicated = list(
            (await session.scalars(select(Track.id).where(Track.origin_node.is_not(None)).order_by(Track.id))).all()
        )
        local = set((await session.scalars(select(Track.id).where(Track.origin_node.is_(None)))).all())
        # Healthy rows for every third track, and a few degraded ones spread over every batch.
        await session.execute(
            text("INSERT INTO track_health (track_id) SELECT unnest(CAST(:ids AS uuid[]))"), {"ids": replicated[::3]}
        )
    assert len(replicated) >= count
    degraded = replicated[1::250]
    for track_id in degraded:
        await fail(db, track_id)

    report = await keeper_of(a).sweep()
    assert report.checked == len(replicated)  # every replicated track once, local ones never
    assert report.struck == len(degraded)
    assert report.counts.model_dump() == {
        "healthy": len(replicated) - len(degraded),
        "recovered": 0,
        "degraded": len(degraded),
        "dereferenced": 0,
    }
    async with db.transaction() as session:
        failures = dict(
            (
                await session.execute(
                    select(TrackHealth.track_id, TrackHealth.consecutive_failures).where(
                        TrackHealth.consecutive_failures > 0
                    )
                )
            ).all()
        )
        unchecked = await session.scalar(
            select(func.count()).select_from(TrackHealth).where(TrackHealth.last_checked_at.is_(None))
        )
    assert failures == dict.fromkeys(degraded, 2)  # one strike each: no track visited twice
    assert unchecked == 0

    # The admin listing pages through the same tracks in the same order, local tracks left out.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        response = await a.client.get(REMOTE, params=params, headers=a.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(t) for t in replicated]
    assert not local & {uuid.UUID(t) for t in seen}
    degraded_page = (await a.client.get(REMOTE, params={"state": "degraded"}, headers=a.headers)).json()
    assert [item["id"] for item in degraded_page["items"]] == [str(t) for t in degraded]
    item = degraded_page["items"][0]
    assert (item["consecutive_failures"], item["source_count"], item["cached"]) == (2, 1, False)
    assert item["origin_node"] == dead
    assert item["last_error"]


async def test_sweeps_run_periodically_and_never_twice_at_once(start_instance: Any, fake: FakeSoundTime) -> None:
    a: Instance = await start_instance("a")
    live = await serving(a, fake)
    track = announcement(live, 1)
    offer(fake, track)
    (track_id,) = await replicate(a, live, [track])
    keeper = another_keeper(a, timings=replace(a.node.policy.timings, sweep_interval=0.05))

    first, second = await asyncio.gather(keeper.sweep(), keeper.sweep())
    assert first is second  # the second request joined the running sweep

    await fail(a.context.db, track_id)
    runner = asyncio.create_task(keeper.run_periodically())
    try:
        await eventually(lambda: _state_is(a.context.db, track_id, "recovered"))
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert keeper.last_report is not None


async def _state_is(db: Database, track_id: uuid.UUID, state: str) -> bool:
    async with db.transaction() as session:
        return await state_of(session, track_id) == state


# --- admin API -----------------------------------------------------------------------------------------------------


async def test_admin_routes_need_the_admin_role_and_refuse_bad_targets(
    start_instance: Any, fake: FakeSoundTime
) -> None:
    a: Instance = await start_instance("a")
    keeper_of(a)
    dead = random_node_id()
    (remote_id,) = await replicate(a, dead, [announcement(dead, 1)])
    await open_registration(a.client, a.token)
    user = bearer(await register(a.client, "bob"))
    routes = [
        ("GET", REMOTE),
        ("PATCH", _tracks_path(remote_id, "dereference")),
        ("PATCH", _tracks_path(remote_id, "rereference")),
        ("GET", HEALTH),
        ("POST", f"{HEALTH}/sweep"),
    ]
    for method, path in routes:
        assert_error(await a.client.request(method, path), 401, "unauthorized")
        assert_error(await a.client.request(method, path, headers=bearer("forged")), 401, "invalid_token")
        assert_error(await a.client.request(method, path, headers=user), 403, "forbidden")
    assert await health(a.context.db, remote_id) is None  # nothing was done for the refused requests
    assert keeper_of(a).last_report is None

    async with a.context.db.transaction() as session:
        local_id = await session.scalar(
            text(
                "INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_size, file_path) "
                "SELECT gen_random_uuid(), 'Ours', artist_id, 60, 'mp3', :hash, 10, 'x/ours' FROM tracks "
                "LIMIT 1 RETURNING id"
            ),
            {"hash": blake3(b"ours").hexdigest()},
        )
    for action in ("dereference", "rereference"):
        assert_error(await a.client.patch(_tracks_path(uuid.uuid4(), action), headers=a.headers), 404, "not_found")
        assert_error(await a.client.patch(_tracks_path(local_id, action), headers=a.headers), 422, "not_replicated")
        assert_error(await a.client.patch(_tracks_path("not-a-uuid", action), headers=a.headers), 422, "invalid")
    assert await health(a.context.db, local_id) is None
    assert_error(await a.client.get(REMOTE, params={"cursor": "garbage"}, headers=a.headers), 400, "invalid_cursor")
    assert_error(await a.client.get(REMOTE, params={"limit": 0}, headers=a.headers), 422, "invalid")
    assert_error(await a.client.get(REMOTE, params={"state": "sick"}, headers=a.headers), 422, "invalid")

    # The admin's sweep trigger answers at once and the sweep's report shows up in the summary.
    response = await a.client.post(f"{HEALTH}/sweep", headers=a.headers)
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"counts", "manually_dereferenced", "total", "last_sweep", "sweep_running"}
    body = await eventually(lambda: _swept(a))
    assert body["last_sweep"]["checked"] == 1
    assert body["total"] == 1  # our own track is not counted
    assert body["sweep_running"] is False


async def _swept(instance: Instance) -> dict[str, Any] | None:
    body = await summary(instance)
    return body if body["last_sweep"] is not None and not body["sweep_running"] else None


async def test_without_p2p_the_summary_works_and_a_sweep_is_unavailable(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    response = await client.get(HEALTH, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "counts": {"healthy": 0, "recovered": 0, "degraded": 0, "dereferenced": 0},
        "manually_dereferenced": 0,
        "total": 0,
        "last_sweep": None,
        "sweep_running": False,
    }
    assert_error(await client.post(f"{HEALTH}/sweep", headers=admin), 503, "p2p_disabled")
    assert (await client.get(REMOTE, headers=admin)).json() == {"items": [], "next_cursor": None}
