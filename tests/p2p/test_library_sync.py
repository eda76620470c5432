"""Library sync per peer (admin): counts, playable tracks, re-sync with progress, and every refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from soundtime.models import track_sources
from soundtime.p2p.policy import Timings
from tests.p2p.conftest import Instance, eventually
from tests.p2p.test_admin_api import assert_error, closed_udp_port, random_node_id
from tests.p2p.test_playback import track_id
from tests.support.api import bearer, open_registration, register, upload
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.soundtime_peer import FakeSoundTime, announcement

SYNC = "/api/admin/p2p/library-sync"


async def sources_of(instance: Instance, node_id: str) -> int:
    async with instance.context.db.transaction() as session:
        stmt = select(func.count()).select_from(track_sources).where(track_sources.c.node_id == node_id)
        return int((await session.execute(stmt)).scalar_one())


async def peer_sync(instance: Instance, node_id: str) -> dict[str, Any]:
    response = await instance.client.get(f"{SYNC}/{node_id}", headers=instance.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def two_with_tracks(
    start_instance: Any, audio: AudioFactory, tmp_path: Path, count: int
) -> tuple[Instance, Instance]:
    """A and B, B holding ``count`` tracks, A connected to B and holding B's catalogue."""
    a: Instance = await start_instance("a")
    b: Instance = await start_instance("b")
    for index in range(count):
        path = audio.make(
            tmp_path / "b" / f"song{index}.mp3", "mp3", TrackSpec(title=f"Song {index}", frequency=300 + 50 * index)
        )
        assert (await upload(b.client, b.token, path)).status_code == 201
    added = await a.client.post("/api/admin/p2p/peers", json={"node_id": b.dial_address()}, headers=a.headers)
    assert added.status_code == 201, added.text

    async def replicated() -> bool:
        return await sources_of(a, b.node_id) == count

    await eventually(replicated)
    return a, b


async def test_only_administrators_see_or_start_syncs(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    await open_registration(a.client, a.token)
    user = bearer(await register(a.client, "bob"))
    peer = random_node_id()
    for method, path in (("GET", SYNC), ("GET", f"{SYNC}/{peer}"), ("POST", f"{SYNC}/{peer}")):
        assert_error(await a.client.request(method, path), 401, "unauthorized")
        assert_error(await a.client.request(method, path, headers=user), 403, "forbidden")
    assert a.node.resyncs.get(peer) is None


async def test_overview_counts_announced_catalogued_and_playable_tracks(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a, b = await two_with_tracks(start_instance, audio, tmp_path, 3)
    overview = (await a.client.get(SYNC, headers=a.headers)).json()
    assert [p["node_id"] for p in overview["peers"]] == [b.node_id]
    row = overview["peers"][0]
    assert row["is_online"] is True
    assert row["blocked"] is False
    assert (row["tracks_announced"], row["tracks_catalogued"], row["tracks_playable"]) == (3, 3, 3)
    assert row["sync_state"] == "idle"
    assert row["last_error"] is None
    assert row["resync"] is None
    assert row["last_synced_at"] is not None

    # Play one track (its audio enters the cache) and dereference another.
    tracks = [await track_id(a, digest) for digest in await b_hashes(b)]
    assert (await a.client.get(f"/api/tracks/{tracks[0]}/stream", headers=a.headers)).status_code == 200
    patched = await a.client.patch(f"/api/admin/p2p/tracks/{tracks[1]}/dereference", headers=a.headers)
    assert patched.status_code == 200
    assert (await peer_sync(a, b.node_id))["tracks_playable"] == 2

    # B goes away: only the cached track can still be played.
    await start_instance.stop("b")

    async def offline() -> bool:
        return (await peer_sync(a, b.node_id))["is_online"] is False

    await eventually(offline)
    row = await peer_sync(a, b.node_id)
    assert (row["tracks_announced"], row["tracks_catalogued"], row["tracks_playable"]) == (3, 3, 1)


async def b_hashes(b: Instance) -> list[str]:
    listed = (await b.client.get("/api/tracks", headers=b.headers)).json()["items"]
    return sorted(item["content_hash"] for item in listed)


async def test_a_resync_brings_back_a_lost_catalogue_with_progress(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a, b = await two_with_tracks(start_instance, audio, tmp_path, 3)
    async with a.context.db.transaction() as session:  # a lost sync: A no longer knows B offers these
        await session.execute(
            text(
                "INSERT INTO remote_track_sources (track_id, node_id, is_origin, withdrawn) "
                "SELECT id, origin_node, true, true FROM tracks WHERE origin_node = :node"
            ),
            {"node": b.node_id},
        )
    assert (await peer_sync(a, b.node_id))["tracks_catalogued"] == 0

    response = await a.client.post(f"{SYNC}/{b.node_id.upper()}", headers=a.headers)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["node_id"] == b.node_id
    assert started["resync"]["expected_tracks"] == 3
    assert started["resync"]["state"] in ("running", "done")

    async def finished() -> dict[str, Any] | None:
        row = await peer_sync(a, b.node_id)
        return row if row["resync"]["state"] == "done" else None

    row = await eventually(finished)
    progress = row["resync"]
    assert progress["pages"] == 1
    assert (progress["tracks_received"], progress["tracks_accepted"], progress["tracks_skipped"]) == (3, 3, 0)
    assert progress["error"] is None
    assert progress["finished_at"] >= progress["started_at"]
    assert row["sync_state"] == "idle"
    assert (row["tracks_catalogued"], row["tracks_playable"]) == (3, 3)
    assert await sources_of(a, b.node_id) == 3


async def test_a_running_resync_refuses_another_then_fails_when_the_peer_stops_short(start_instance: Any) -> None:
    peer = await FakeSoundTime.start()
    peer.catalog = [announcement(peer.node_id, index) for index in range(5)]
    peer.claimed_track_count = 8  # it announces 8 tracks but sends 5
    try:
        a: Instance = await start_instance("a", P2P_SEED_PEERS=peer.dial_address())

        async def replicated() -> bool:
            return await sources_of(a, peer.node_id) == 5

        await eventually(replicated)
        a.node.resyncs.idle_timeout = 2.0
        first = await a.client.post(f"{SYNC}/{peer.node_id}", headers=a.headers)
        assert first.status_code == 202, first.text
        assert first.json()["sync_state"] == "syncing"
        assert_error(await a.client.post(f"{SYNC}/{peer.node_id}", headers=a.headers), 409, "resync_running")

        async def failed() -> dict[str, Any] | None:
            row = await peer_sync(a, peer.node_id)
            return row if row["sync_state"] == "failed" else None

        row = await eventually(failed)
        assert row["resync"]["state"] == "failed"
        assert row["resync"]["expected_tracks"] == 8
        assert row["resync"]["tracks_received"] == 5  # the pages its Ping-triggered push sent
        assert row["last_error"] == row["resync"]["error"]
        assert "after 5 of 8 tracks" in row["last_error"]
        # Once finished, a new re-sync may start.
        again = await a.client.post(f"{SYNC}/{peer.node_id}", headers=a.headers)
        assert again.status_code == 202, again.text
        assert again.json()["resync"]["error"] is None
        assert any(r.sender == a.node_id for r in peer.received if type(r.message).__name__ == "RequestCatalog")
    finally:
        await peer.close()


async def test_unknown_blocked_invalid_and_unreachable_peers(start_instance: Any) -> None:
    # An unreachable peer is given up after 1 s instead of 10 (when it is added, and when it is asked to re-sync).
    a: Instance = await start_instance("a", timings=Timings(admin_ping_timeout=1.0))
    assert_error(await a.client.post(f"{SYNC}/{random_node_id()}", headers=a.headers), 404, "peer_not_found")
    assert_error(await a.client.get(f"{SYNC}/{random_node_id()}", headers=a.headers), 404, "peer_not_found")
    for bad in ("xyz", "g" * 64, "a" * 63):
        assert_error(await a.client.post(f"{SYNC}/{bad}", headers=a.headers), 422, "invalid")

    dead = random_node_id()
    added = await a.client.post(
        "/api/admin/p2p/peers", json={"node_id": f"{dead}@127.0.0.1:{closed_udp_port()}"}, headers=a.headers
    )
    assert added.status_code == 201
    body = (await a.client.post(f"{SYNC}/{dead}", headers=a.headers)).json()
    assert body["error"]["code"] == "peer_unavailable"
    row = await peer_sync(a, dead)
    assert row["sync_state"] == "failed"
    assert "could not be asked" in row["last_error"]

    blocked = await a.client.post("/api/admin/blocked-domains", json={"domain": dead}, headers=a.headers)
    assert blocked.status_code == 201
    assert_error(await a.client.post(f"{SYNC}/{dead}", headers=a.headers), 409, "peer_blocked")
    assert (await peer_sync(a, dead))["blocked"] is True


async def test_without_p2p_the_overview_works_and_a_resync_is_503(start_instance: Any) -> None:
    a: Instance = await start_instance("a", P2P_ENABLED=False)
    assert (await a.client.get(SYNC, headers=a.headers)).json() == {"peers": []}
    assert_error(await a.client.post(f"{SYNC}/{random_node_id()}", headers=a.headers), 503, "p2p_disabled")
