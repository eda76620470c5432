"""Our node federating with a peer that behaves like a SoundTime Rust node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from soundtime.models import Album, Artist, Peer, RemoteTrackSource, Track
from soundtime.p2p import wire
from tests.p2p.conftest import Instance, eventually
from tests.support.api import upload
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.soundtime_peer import FakeSoundTime, announcement


@pytest.fixture
async def soundtime_peer() -> AsyncIterator[FakeSoundTime]:
    peer = await FakeSoundTime.start()
    try:
        yield peer
    finally:
        await peer.close()


async def _count(instance: Instance, model: Any) -> int:
    async with instance.context.db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_catalog_from_a_soundtime_peer_is_replicated_and_bad_tracks_skipped(
    start_instance: Any, soundtime_peer: FakeSoundTime, audio: AudioFactory, tmp_path: Path
) -> None:
    origin = soundtime_peer.node_id
    good = [announcement(origin, i) for i in range(1200)]
    bad = [
        announcement(origin, 5000, hash="AB" * 32),  # upper-case hash
        announcement(origin, 5001, origin_node="d" * 64),  # claims another origin
        announcement(origin, 5002, title="x" * 256),  # too long
        announcement(origin, 5003, title="nul\x00byte"),
        announcement(origin, 5004, format="FLAC!"),
    ]
    soundtime_peer.catalog = good[:700] + bad + good[700:]
    b = await start_instance("b")
    path = audio.make(tmp_path / "ours.mp3", "mp3", TrackSpec(title="Ours"))
    assert (await upload(b.client, b.token, path)).status_code == 201

    response = await b.client.post(
        "/api/admin/p2p/peers", json={"node_id": soundtime_peer.dial_address()}, headers=b.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["reachable"] is True
    assert response.json()["peer"]["version"] == "0.1.57"

    # The peer pushed 3 pages after our Ping: every valid track arrives, the bad ones are skipped one by one.
    assert await eventually(lambda: _tracks_from(b, origin, 1200))
    assert await _count(b, RemoteTrackSource) == 1200
    assert await _count(b, Artist) == 7 + 1  # the peer's 7 artists and our own
    assert await _count(b, Album) == len({(t.album_title, t.artist_name) for t in good}) + 1

    # Our catalog went to the peer as a CatalogSync on a connection we opened (the only kind it reads).
    syncs = await eventually(lambda: _of_type(soundtime_peer, wire.CatalogSync))
    (sync,) = syncs
    assert sync.sender == b.node_id
    (ours,) = sync.message.tracks
    assert ours.title == "Ours"
    assert ours.origin_node == b.node_id
    assert sync.frame == wire.encode_frame(sync.message)  # the bytes are the canonical SoundTime form
    pings = soundtime_peer.of_type(wire.Ping)
    assert pings
    assert pings[0].frame == bytes.fromhex("00000006") + b'"Ping"'

    # Pinged again within the rate limit: it pushes again (SoundTime does), we do not push ours again.
    assert (await b.client.post(f"/api/admin/p2p/peers/{origin}/ping", headers=b.headers)).json()["reachable"]
    assert len(soundtime_peer.of_type(wire.CatalogSync)) == 1
    async with b.context.db.transaction() as session:
        peer = await session.get(Peer, origin)
        assert peer is not None
        assert peer.track_count == 1205


async def _tracks_from(instance: Instance, origin: str, expected: int) -> bool:
    async with instance.context.db.transaction() as session:
        stmt = select(func.count()).select_from(Track).where(Track.origin_node == origin)
        return int((await session.execute(stmt)).scalar_one()) == expected


async def _of_type(peer: FakeSoundTime, kind: type[object]) -> list[Any]:
    return peer.of_type(kind)


async def test_a_peer_dying_mid_sync_leaves_only_whole_pages(
    start_instance: Any, soundtime_peer: FakeSoundTime
) -> None:
    origin = soundtime_peer.node_id
    soundtime_peer.catalog = [announcement(origin, i) for i in range(1000)]
    soundtime_peer.die_after_pages = 1
    b = await start_instance("b", P2P_SEED_PEERS=soundtime_peer.dial_address())
    assert await eventually(lambda: _tracks_from(b, origin, 500))
    assert await eventually(lambda: _offline(b, origin), within=30)
    # The half-sent second page left nothing: no track, source, artist or album beyond the first page's.
    async with b.context.db.transaction() as session:
        hashes = set((await session.scalars(select(Track.content_hash))).all())
    assert hashes == {t.hash for t in soundtime_peer.catalog[:500]}
    assert await _count(b, RemoteTrackSource) == 500
    assert await _count(b, Artist) == 7
    assert await _count(b, Album) == len({(t.album_title, t.artist_name) for t in soundtime_peer.catalog[:500]})


async def _offline(instance: Instance, node_id: str) -> bool:
    async with instance.context.db.transaction() as session:
        peer = await session.get(Peer, node_id)
        return peer is not None and not peer.is_online
