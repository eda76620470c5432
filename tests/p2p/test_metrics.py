"""/metrics after real federation traffic between two live nodes (and a peer that lies about a blob)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from tests.p2p.conftest import Instance, eventually
from tests.p2p.test_playback import track_id
from tests.support.api import upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
from tests.support.metrics import delta, scrape, value
from tests.support.soundtime_peer import FakeSoundTime, announcement


async def test_federation_traffic_moves_the_counters(start_instance: Any, audio: AudioFactory, tmp_path: Path) -> None:
    a: Instance = await start_instance("a")
    b: Instance = await start_instance("b")
    path = audio.make(tmp_path / "b" / "metered.mp3", "mp3", TrackSpec(title="Metered", cover=make_cover_png(5)))
    assert (await upload(b.client, b.token, path)).status_code == 201
    data = path.read_bytes()
    a.context.scrape_counts.ttl = 0  # read the database at every scrape
    before = await scrape(a.client, a.headers)

    added = await a.client.post("/api/admin/p2p/peers", json={"node_id": b.dial_address()}, headers=a.headers)
    assert added.status_code == 201, added.text
    track = await track_id(a, blake3(data).hexdigest())

    async def cover_fetched() -> bool:
        after = await scrape(a.client, a.headers)
        return delta(before, after, "soundtime_p2p_blob_fetches_total", kind="cover", outcome="ok") >= 1

    await eventually(cover_fetched)
    played = await a.client.get(f"/api/tracks/{track}/stream", headers=a.headers)
    assert played.status_code == 200
    assert played.content == data
    after = await scrape(a.client, a.headers)

    def moved(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    # Messages by type, both ways (the two nodes share the process, so these count both sides' traffic).
    assert moved("soundtime_p2p_messages_sent_total", type="Ping") >= 1
    assert moved("soundtime_p2p_messages_received_total", type="Pong") >= 1
    assert moved("soundtime_p2p_messages_sent_total", type="CatalogSync") >= 1
    assert moved("soundtime_p2p_messages_received_total", type="CatalogSync") >= 1
    assert moved("soundtime_p2p_messages_sent_total", type="FetchTrack") >= 2  # the cover, then the audio
    # Bytes: at least the audio itself travelled, each way counted once per side.
    assert moved("soundtime_p2p_stream_bytes_received_total") >= len(data)
    assert moved("soundtime_p2p_stream_bytes_sent_total") >= len(data)
    # The played track: one verified audio fetch, nothing failed, the catalogue page ingested.
    assert moved("soundtime_p2p_blob_fetches_total", kind="audio", outcome="ok") == 1
    assert moved("soundtime_p2p_blob_fetches_total", kind="audio", outcome="failed") == 0
    assert moved("soundtime_p2p_verification_failures_total", kind="audio") == 0
    assert moved("soundtime_p2p_catalog_tracks_total", outcome="accepted") >= 1
    route = "/api/tracks/{track_id}/stream"
    assert moved("soundtime_http_requests_total", method="GET", route=route, status="200") == 1
    assert value(after, "soundtime_p2p_transfers_active") == 0
    assert value(after, "soundtime_http_responses_in_progress", route=route) == 0
    # Gauges read from A's own database and cache at scrape time.
    assert value(after, "soundtime_p2p_peers", state="known") == 1
    assert value(after, "soundtime_p2p_peers", state="online") == 1
    assert value(after, "soundtime_p2p_tracks_by_health", state="healthy") == 1
    assert value(after, "soundtime_p2p_cache_bytes") == len(data)
    assert value(after, "soundtime_p2p_cache_entries") == 1


async def test_a_peer_sending_wrong_bytes_counts_a_verification_failure(start_instance: Any) -> None:
    peer = await FakeSoundTime.start()
    data = os.urandom(300_000)
    digest = blake3(data).hexdigest()
    peer.blobs[digest] = data
    peer.forged[digest] = os.urandom(len(data))
    peer.catalog.append(announcement(peer.node_id, 1, hash=digest, file_size=len(data)))
    try:
        a: Instance = await start_instance("a", P2P_SEED_PEERS=peer.dial_address())
        track = await track_id(a, digest)
        before = await scrape(a.client, a.headers)
        with pytest.raises(Exception):  # noqa: B017, PT011 - the in-process client surfaces the aborted body
            await a.client.get(f"/api/tracks/{track}/stream", headers=a.headers)
        after = await scrape(a.client, a.headers)
        assert delta(before, after, "soundtime_p2p_verification_failures_total", kind="audio") == 1
        assert delta(before, after, "soundtime_p2p_blob_fetches_total", kind="audio", outcome="failed") == 1
        assert delta(before, after, "soundtime_p2p_blob_fetches_total", kind="audio", outcome="ok") == 0
        assert value(after, "soundtime_p2p_cache_entries") == 0
    finally:
        await peer.close()
