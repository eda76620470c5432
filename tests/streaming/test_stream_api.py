"""Streaming over real HTTP (uvicorn on loopback): full bodies, byte ranges, conditional requests, covers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.api import bearer, register, upload
from tests.support.audio import EXTENSIONS, FORMATS, AudioFactory, TrackSpec, make_cover_png

EXPECTED_TYPES = {
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg; codecs=opus",
    "m4a": "audio/mp4",
    "wav": "audio/wav",
    "aiff": "audio/aiff",
}


@pytest.fixture
async def http(live_server: str) -> Any:
    async with httpx.AsyncClient(base_url=live_server) as client:
        yield client


async def uploaded(
    http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path, fmt: str = "flac"
) -> tuple[str, dict[str, Any], bytes]:
    token = await register(http)
    path = audio.make(tmp_path / f"song{EXTENSIONS[fmt]}", fmt, TrackSpec(duration=2.0, cover=make_cover_png(2)))
    response = await upload(http, token, path)
    assert response.status_code == 201, response.text
    return token, response.json()["track"], path.read_bytes()


async def test_whole_file(http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> None:
    token, track, data = await uploaded(http, audio, tmp_path)
    response = await http.get(track["stream_url"], headers=bearer(token))
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{track["content_hash"]}"'
    assert response.headers["content-type"] == "audio/flac"


@pytest.mark.parametrize(
    ("header", "span"), [("bytes=100-199", (100, 199)), ("bytes=-100", (-100, -1)), ("bytes=1000-", (1000, -1))]
)
async def test_ranges_are_206_with_exact_bytes(
    http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path, header: str, span: tuple[int, int]
) -> None:
    token, track, data = await uploaded(http, audio, tmp_path)
    size = len(data)
    start, end = (position % size for position in span)
    response = await http.get(track["stream_url"], headers={**bearer(token), "Range": header})
    assert response.status_code == 206
    assert response.content == data[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-length"] == str(end - start + 1)


async def test_range_past_the_end_is_416(http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> None:
    token, track, data = await uploaded(http, audio, tmp_path)
    response = await http.get(track["stream_url"], headers={**bearer(token), "Range": f"bytes={len(data)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


async def test_head_conditional_and_if_range(http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> None:
    token, track, data = await uploaded(http, audio, tmp_path)
    etag = f'"{track["content_hash"]}"'
    head = await http.head(track["stream_url"], headers={**bearer(token), "Range": "bytes=0-9"})
    assert head.status_code == 206
    assert head.headers["content-length"] == "10"
    assert head.content == b""
    cached = await http.get(track["stream_url"], headers={**bearer(token), "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    stale = await http.get(track["stream_url"], headers={**bearer(token), "Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200
    assert stale.content == data
    fresh = await http.get(track["stream_url"], headers={**bearer(token), "Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206


@pytest.mark.parametrize("fmt", FORMATS)
async def test_content_type_per_format(http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path, fmt: str) -> None:
    token, track, _ = await uploaded(http, audio, tmp_path, fmt)
    response = await http.head(track["stream_url"], headers=bearer(token))
    assert response.headers["content-type"] == EXPECTED_TYPES[fmt]


async def test_media_accepts_token_query_and_refuses_anonymous(
    http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    token, track, data = await uploaded(http, audio, tmp_path)
    assert (await http.get(track["stream_url"])).status_code == 401
    by_query = await http.get(track["stream_url"], params={"token": token})
    assert by_query.content == data
    assert (await http.get(track["stream_url"], params={"token": "forged"})).status_code == 401


async def test_cover_of_album_and_track(http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> None:
    token, track, _ = await uploaded(http, audio, tmp_path)
    for url in (track["cover_url"], f"/api/tracks/{track['id']}/cover"):
        response = await http.get(url, headers=bearer(token))
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content == make_cover_png(2)


async def test_cover_head(http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> None:
    token, track, _ = await uploaded(http, audio, tmp_path)
    response = await http.head(track["cover_url"], headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(make_cover_png(2)))


async def test_audio_missing_on_disk_is_a_clean_404(
    http: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token, track, _ = await uploaded(http, audio, tmp_path)
    app.state.context.audio.path_for(track["content_hash"]).unlink()
    for method in ("GET", "HEAD"):
        response = await http.request(method, track["stream_url"], headers=bearer(token))
        assert response.status_code == 404
    body = (await http.get(track["stream_url"], headers=bearer(token))).json()
    assert body["error"]["code"] == "file_missing"


async def test_track_without_cover_is_404(http: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> None:
    token = await register(http)
    path = audio.make(tmp_path / "plain.mp3", "mp3", TrackSpec())
    track = (await upload(http, token, path)).json()["track"]
    response = await http.get(f"/api/tracks/{track['id']}/cover", headers=bearer(token))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_cover"


async def test_oversized_request_heads_are_refused(live_server: str) -> None:
    host, port = live_server.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    try:
        async with asyncio.timeout(10):  # a server that keeps buffering never answers
            for _ in range(64):  # 1 MiB of header, sent in pieces as a slow attacker would
                writer.write(b"X-Big: " + b"a" * 16_000 + b"\r\n")
                await writer.drain()
            status = await reader.readline()
    except ConnectionError:  # refused mid-way (connection reset) is fine
        return
    except TimeoutError:
        pytest.fail("the server kept buffering a 1 MiB request head")
    finally:
        writer.close()
    assert status.split()[1] == b"400"


async def test_a_play_is_noted_for_background_work_and_a_cover_is_not(
    http: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token, track, _ = await uploaded(http, audio, tmp_path)
    last_play = app.state.context.last_play
    assert (await http.get(track["cover_url"], headers=bearer(token))).status_code == 200
    assert last_play.at is None
    assert (await http.get(track["stream_url"], headers=bearer(token))).status_code == 200
    assert last_play.within(30)
    last_play.at = None
    assert (await http.get(f"{track['stream_url']}?format=opus", headers=bearer(token))).status_code == 200
    assert last_play.within(30)
