"""Transcoding a replicated track: from the bytes as they arrive from the peer, verified before it completes."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from blake3 import blake3

from tests.p2p.conftest import Instance, StartInstance, eventually
from tests.p2p.test_playback import b_with, cache_files, started_peer, track_id
from tests.support.audio import AudioFactory, TrackSpec, decode, encode_segments
from tests.support.files import temp_entries
from tests.support.live_server import live_server


async def test_a_track_held_by_another_instance_transcodes_end_to_end(
    start_instance: StartInstance, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a")
    path = audio.make(tmp_path / "song.flac", "flac", TrackSpec(title="Over There", duration=5.0))
    with path.open("rb") as handle:
        uploaded = await a.client.post(
            "/api/upload", files={"file": ("song.flac", handle, "audio/flac")}, headers=a.headers
        )
    assert uploaded.status_code == 201, uploaded.text
    b: Instance = await start_instance("b", P2P_SEED_PEERS=a.dial_address())
    data = path.read_bytes()
    track = await track_id(b, blake3(data).hexdigest())

    response = await b.client.get(f"/api/tracks/{track}/stream?format=mp3&bitrate=128", headers=b.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    decoded = decode(response.content)
    assert decoded.codec == "mp3float"
    assert decoded.duration == pytest.approx(5.0, abs=0.065)
    assert len(response.content) * 8 / decoded.duration / 1000 == pytest.approx(128, rel=0.10)
    assert cache_files(b)[blake3(data).hexdigest()] == len(data)  # the original came along, verified

    seeked = await b.client.get(f"/api/tracks/{track}/stream?format=opus&offset=2", headers=b.headers)
    assert decode(seeked.content).duration == pytest.approx(3.0, abs=0.01)
    again = await b.client.get(f"/api/tracks/{track}/stream?format=mp3&bitrate=128", headers=b.headers)
    assert again.content == response.content
    assert again.headers["content-length"] == str(len(response.content))  # from the transcode cache


async def test_transcoding_starts_while_the_track_is_still_arriving(
    start_instance: StartInstance, tmp_path: Path
) -> None:
    path = tmp_path / "steps.flac"
    encode_segments(path, "flac", "flac", [(330.0, 4.0), (0.0, 2.0), (660.0, 4.0)])
    data = path.read_bytes()
    peer = await started_peer(pace=1.0)  # 64 KiB a second: the 126 KiB take two seconds
    digest = peer.offer(data, 1, duration_secs=10.0)
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        async with live_server(b.app) as url, httpx.AsyncClient(base_url=url) as http:
            url_path = f"/api/tracks/{track}/stream?format=opus&bitrate=64"
            async with http.stream("GET", url_path, headers=b.headers) as response:
                assert response.status_code == 200
                chunks = response.aiter_raw()
                body = bytearray(await anext(chunks))
                transfer = b.node.downloads
                assert transfer.in_progress(digest), "the first transcoded bytes came before the whole track"
                assert digest not in cache_files(b)
                async for chunk in chunks:
                    body += chunk
        decoded = decode(bytes(body))
        assert decoded.duration == pytest.approx(10.0, abs=0.01)
        assert sum(1 for level in decoded.loudness if level < 0.01) == pytest.approx(200, abs=3)  # the silence
        assert cache_files(b)[digest] == len(data)
        assert peer.fetches(digest) == 1
    finally:
        await peer.close()


async def test_a_transfer_that_fails_mid_way_cuts_the_transcode_off_and_caches_nothing(
    start_instance: StartInstance, audio: AudioFactory, tmp_path: Path
) -> None:
    path = audio.make(tmp_path / "long.flac", "flac", TrackSpec(duration=20.0))
    data = path.read_bytes()
    peer = await started_peer(pace=0.01)
    digest = peer.offer(data, 1, duration_secs=20.0)
    peer.cut_after[digest] = len(data) // 2
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        async with live_server(b.app) as url, httpx.AsyncClient(base_url=url) as http:
            url_path = f"/api/tracks/{track}/stream?format=mp3&bitrate=96"
            with pytest.raises(httpx.HTTPError):  # the listener sees an incomplete body, not a short "complete" one
                await _read_all(http, url_path, b.headers)

        async def idle() -> bool:
            return b.context.transcoder.active == 0

        await eventually(idle)
        assert digest not in cache_files(b)
        transcodes = b.context.settings.transcode_dir
        assert [name for name in os.listdir(transcodes) if not name.startswith(".")] == []
        assert temp_entries(transcodes / ".tmp") == []  # the owner lock of the running server aside
    finally:
        await peer.close()


async def _read_all(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> bytes:
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        return b"".join([chunk async for chunk in response.aiter_raw()])
