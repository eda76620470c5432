"""Our node federating with a peer that behaves like a SoundTime Rust node."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from sqlalchemy import func, select

from soundtime.models import Album, Artist, Peer, Track, track_sources
from soundtime.p2p import wire
from soundtime.p2p.transport import PeerAddress, TransportError
from tests.p2p.conftest import Instance, eventually
from tests.support.api import upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
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


async def test_catalog_from_a_soundtime_peer_is_replicated_odd_tags_repaired_and_bad_tracks_skipped(
    start_instance: Any, soundtime_peer: FakeSoundTime, audio: AudioFactory, tmp_path: Path
) -> None:
    origin = soundtime_peer.node_id
    good = [announcement(origin, i) for i in range(1200)]
    bad = [
        announcement(origin, 5000, hash="AB" * 32),  # upper-case hash
        announcement(origin, 5001, origin_node="d" * 64),  # claims another origin
        announcement(origin, 5004, format="FLAC!"),
        announcement(origin, 5005, file_size=-1),
    ]
    odd = [  # what merely describes a track is repaired: the track is kept
        announcement(origin, 5002, title="x" * 256, year=12000),
        announcement(origin, 5003, title="nul\x00byte", track_number=-3, duration_secs=-5.0),
    ]
    soundtime_peer.catalog = good[:700] + bad + odd + good[700:]
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
    assert await eventually(lambda: _tracks_from(b, origin, 1202))
    assert await _count(b, track_sources) == 1202
    async with b.context.db.transaction() as session:
        kept = await session.execute(
            select(Track.title, Track.year, Track.track_number, Track.duration_secs)
            .where(Track.content_hash.in_([t.hash for t in odd]))
            .order_by(Track.title)
        )
        assert kept.all() == [("nulbyte", 1975, None, 0.0), ("x" * 255, None, 3, 180.5)]
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
        assert peer.track_count == 1206


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
    assert await _count(b, track_sources) == 500
    assert await _count(b, Artist) == 7
    assert await _count(b, Album) == len({(t.album_title, t.artist_name) for t in soundtime_peer.catalog[:500]})


async def _offline(instance: Instance, node_id: str) -> bool:
    async with instance.context.db.transaction() as session:
        peer = await session.get(Peer, node_id)
        return peer is not None and not peer.is_online


def _address_of(instance: Instance) -> PeerAddress:
    return PeerAddress(instance.node_id, (f"127.0.0.1:{instance.node.transport.bound_ports()[0]}",))


async def _upload_one(instance: Instance, audio: AudioFactory, tmp_path: Path, title: str) -> dict[str, Any]:
    path = audio.make(tmp_path / f"{title}.mp3", "mp3", TrackSpec(title=title, frequency=300.0 + len(title) * 40))
    response = await upload(instance.client, instance.token, path)
    assert response.status_code == 201, response.text
    track: dict[str, Any] = response.json()["track"]
    return track


async def test_ping_pushes_a_delta_since_the_last_sync_and_request_catalog_a_full_push(
    start_instance: Any, soundtime_peer: FakeSoundTime, audio: AudioFactory, tmp_path: Path
) -> None:
    b = await start_instance("b")
    b.node.policy.timings = replace(b.node.policy.timings, push_min_interval=0, watermark_margin=0)
    await _upload_one(b, audio, tmp_path, "One")
    await _upload_one(b, audio, tmp_path, "Two")
    target = _address_of(b)

    async def counted() -> bool:  # an upload's announcement, in the background, updates what our Pong reports
        return b.node.own.track_count == 2

    await eventually(counted)
    reply = await soundtime_peer.call(target, wire.encode_frame(wire.Ping()))
    pong = wire.decode_frame(reply)
    assert pong == wire.Pong(node_id=b.node_id, track_count=2, version=b.node.own.pong().version)
    (first,) = await eventually(lambda: _of_type(soundtime_peer, wire.CatalogSync))
    assert sorted(t.title for t in first.message.tracks) == ["One", "Two"]

    await _upload_one(b, audio, tmp_path, "Three")
    await soundtime_peer.call(target, wire.encode_frame(wire.Ping()))
    deltas = await eventually(lambda: _of_type(soundtime_peer, wire.CatalogDelta))
    assert [t.title for d in deltas for t in d.message.tracks] == ["Three"]

    # RequestCatalog: a full push again (FIN only as the reply).
    assert await soundtime_peer.call(target, wire.encode_frame(wire.RequestCatalog())) == b""
    syncs = await eventually(lambda: _at_least(soundtime_peer, wire.CatalogSync, 2))
    assert sorted(t.title for t in syncs[-1].message.tracks) == ["One", "Three", "Two"]


async def _at_least(peer: FakeSoundTime, kind: type[object], count: int) -> list[Any] | None:
    found = peer.of_type(kind)
    return found if len(found) >= count else None


async def test_fetch_track_serves_our_own_blobs_only(
    start_instance: Any, soundtime_peer: FakeSoundTime, audio: AudioFactory, tmp_path: Path
) -> None:
    b = await start_instance("b")
    track = await _upload_one(b, audio, tmp_path, "Served")
    target = _address_of(b)
    expected = (tmp_path / "Served.mp3").read_bytes()

    reply = await soundtime_peer.call(target, wire.encode_frame(wire.FetchTrack(hash=track["content_hash"])))
    assert reply == struct.pack(">I", len(expected)) + expected
    for unknown in ("0" * 64, "not a hash", track["content_hash"].upper()):
        reply = await soundtime_peer.call(target, wire.encode_frame(wire.FetchTrack(hash=unknown)))
        assert reply == b"\x00\x00\x00\x00"

    # SearchQuery: our own tracks from full-text search, the limit capped, the request id echoed.
    query = wire.SearchQuery(request_id="6f1c2a52-7b1e-4c53-9d0e-2f8b1a0c9e47", query="serv", limit=1_000_000)
    results = wire.decode_frame(await soundtime_peer.call(target, wire.encode_frame(query)))
    assert isinstance(results, wire.SearchResults)
    assert results.request_id == query.request_id
    assert [(r.hash, r.title, r.source_node) for r in results.results] == [(track["content_hash"], "Served", b.node_id)]
    assert results.total == 1


async def test_a_forged_cover_is_rejected_and_malformed_frames_do_no_harm(
    start_instance: Any, soundtime_peer: FakeSoundTime
) -> None:
    origin = soundtime_peer.node_id
    cover = make_cover_png(seed=3)
    good_hash, forged_hash = blake3(cover).hexdigest(), blake3(b"what it should be").hexdigest()
    soundtime_peer.blobs[good_hash] = cover
    soundtime_peer.forged[forged_hash] = cover  # right image, wrong hash
    soundtime_peer.catalog = [
        announcement(origin, 1, album_title="Good", cover_hash=good_hash),
        announcement(origin, 2, album_title="Forged", cover_hash=forged_hash),
    ]
    b = await start_instance("b", P2P_SEED_PEERS=soundtime_peer.dial_address())
    assert await eventually(lambda: _tracks_from(b, origin, 2))

    async def covers() -> dict[str, str | None]:
        async with b.context.db.transaction() as session:
            return dict((await session.execute(select(Album.title, Album.cover_hash))).all())

    assert await eventually(lambda: _is(covers, {"Good": good_hash, "Forged": None}))
    assert b.context.blobs.exists(good_hash)
    assert not b.context.blobs.exists(forged_hash)

    # Garbage on a stream ends that stream only; the node keeps answering on the same connection.
    target = _address_of(b)
    for junk in (b"\x00\x00\x00\x05hello", b"\xff\xff\xff\xff", struct.pack(">I", 6) + b'"ping"'):
        with pytest.raises(TransportError):
            await soundtime_peer.call(target, junk)
    reply = await soundtime_peer.call(target, wire.encode_frame(wire.Ping()))
    assert isinstance(wire.decode_frame(reply), wire.Pong)


async def _is(read: Any, expected: object) -> bool:
    return bool(await read() == expected)


async def test_instances_on_one_lan_find_each_other_without_seeds(start_instance: Any) -> None:
    a = await start_instance("a", P2P_LOCAL_DISCOVERY=True)
    b = await start_instance("b", P2P_LOCAL_DISCOVERY=True)

    async def knows(x: Instance, y: Instance) -> bool:
        async with x.context.db.transaction() as session:
            peer = await session.get(Peer, y.node_id)
            return peer is not None and peer.is_online

    assert await eventually(lambda: knows(b, a), within=30)
    assert await eventually(lambda: knows(a, b), within=30)


async def test_an_absurd_track_count_is_clamped_not_fatal(start_instance: Any, soundtime_peer: FakeSoundTime) -> None:
    soundtime_peer.claimed_track_count = (1 << 64) - 1
    b = await start_instance("b")
    response = await b.client.post(
        "/api/admin/p2p/peers", json={"node_id": soundtime_peer.dial_address()}, headers=b.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["peer"]["track_count"] == (1 << 63) - 1
    await b.node.contacts.run_round()  # the round goes on (exchange and pushes are not skipped)


async def test_concurrent_pages_respect_the_catalog_quota(start_instance: Any, soundtime_peer: FakeSoundTime) -> None:
    b = await start_instance("b", P2P_MAX_TRACKS_PER_PEER=100)
    origin = soundtime_peer.node_id
    await b.node.peers.seen_on(origin, [])
    pages = [[announcement(origin, page * 100 + i) for i in range(100)] for page in range(8)]
    results = await asyncio.gather(*(b.node.sync.replicate(origin, page) for page in pages))
    assert sum(r.accepted for r in results) == 100
    assert await _count(b, track_sources) == 100
    assert await _count(b, Track) == 100


async def test_a_peer_slow_to_finish_a_page_gets_it_once(
    start_instance: Any, soundtime_peer: FakeSoundTime, audio: AudioFactory, tmp_path: Path, monkeypatch: Any
) -> None:
    soundtime_peer.fin_delay = 1.5  # handled one at a time, FIN after processing: longer than our wait
    b = await start_instance("b")
    b.node.policy.timings = replace(b.node.policy.timings, ack_timeout=0.5)
    await _upload_one(b, audio, tmp_path, "Slow")
    await soundtime_peer.call(_address_of(b), wire.encode_frame(wire.Ping()))
    await eventually(lambda: _of_type(soundtime_peer, wire.CatalogSync))
    await asyncio.sleep(2.5)  # time for any retry to arrive
    assert len(soundtime_peer.of_type(wire.CatalogSync)) == 1
    async with b.context.db.transaction() as session:
        peer = await session.get(Peer, soundtime_peer.node_id)
        assert peer is not None
        assert peer.failure_count == 0
        assert peer.last_catalog_push_at is not None
        assert peer.sync_watermark is not None  # the push completed
