"""Transcoded streams over real HTTP: codec, bitrate, duration, exact offsets, the concurrency limit, stopping,
the cache of finished transcodes and the errors a client can act on.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from soundtime.context import AppContext
from soundtime.streaming.transcode import Transcoder
from tests.conftest import make_settings, running_app
from tests.p2p.conftest import eventually
from tests.support.api import bearer, error_code, register, upload
from tests.support.audio import AudioFactory, TrackSpec, decode, encode_segments
from tests.support.live_server import live_server

#: MP3 output is longer than its source by the encoder's delay and padding (at most 2256 samples, 51 ms), which a
#: stream without a LAME header cannot signal, plus an AAC source's own unsignalled end padding (8 ms here); Opus
#: signals its pre-skip and end, and matches to the sample.
TOLERANCE = {"opus": 0.01, "mp3": 0.065}


@dataclass
class Server:
    """A live instance with one account and one uploaded track."""

    url: str
    http: httpx.AsyncClient
    context: AppContext
    token: str
    track: dict[str, Any]
    source: bytes

    @property
    def transcoder(self) -> Transcoder:
        return self.context.transcoder

    def stream_url(self, **query: object) -> str:
        url = self.track["stream_url"]
        return url + "?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else url

    async def get(self, **query: object) -> httpx.Response:
        return await self.http.get(self.stream_url(**query), headers=bearer(self.token))

    def cache_files(self) -> list[Path]:
        root = self.context.settings.transcode_dir
        return [path for path in root.rglob("*") if path.is_file() and ".tmp" not in path.relative_to(root).parts]


@asynccontextmanager
async def serving(tmp_path: Path, database_url: str, audio_file: Path, **settings: object) -> AsyncIterator[Server]:
    config = make_settings(tmp_path / "data", database_url, **settings)
    async with running_app(config) as app, live_server(app) as url, httpx.AsyncClient(base_url=url) as http:
        token = await register(http)
        response = await upload(http, token, audio_file)
        assert response.status_code == 201, response.text
        source = await asyncio.to_thread(audio_file.read_bytes)
        yield Server(url, http, app.state.context, token, response.json()["track"], source)


@pytest.fixture
def song(audio: AudioFactory, tmp_path: Path) -> Path:
    return audio.make(tmp_path / "song.flac", "flac", TrackSpec(title="Four Seconds", duration=4.0))


@pytest.fixture
async def server(tmp_path: Path, database_url: str, song: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path, database_url, song) as running:
        yield running


@pytest.mark.parametrize(
    "case", ["flac-opus-96", "flac-mp3-128", "mp3-opus-64", "m4a-mp3-192", "opus-mp3-160", "wav-opus-256"]
)
async def test_the_output_decodes_in_the_asked_codec_at_the_asked_bitrate(
    tmp_path: Path, database_url: str, audio: AudioFactory, case: str
) -> None:
    source_format, fmt, kbps = case.split("-")
    bitrate = int(kbps)
    path = audio.make(tmp_path / f"song.{source_format}", source_format, TrackSpec(duration=6.0, frequency=523.0))
    async with serving(tmp_path, database_url, path) as server:
        response = await server.get(format=fmt, bitrate=bitrate)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ("audio/ogg; codecs=opus" if fmt == "opus" else "audio/mpeg")
    assert "content-length" not in response.headers  # a live transcode: its length is not known in advance
    assert response.headers["accept-ranges"] == "none"
    decoded = decode(response.content)
    assert (decoded.container, decoded.codec) == (("ogg", "opus") if fmt == "opus" else ("mp3", "mp3float"))
    assert decoded.channels == 2
    assert decoded.duration == pytest.approx(6.0, abs=TOLERANCE[fmt])
    assert len(response.content) * 8 / decoded.duration / 1000 == pytest.approx(bitrate, rel=0.10)


async def test_without_a_bitrate_the_configured_default_is_used(server: Server) -> None:
    response = await server.get(format="mp3")
    decoded = decode(response.content)
    assert len(response.content) * 8 / decoded.duration / 1000 == pytest.approx(192, rel=0.02)  # MP3 is CBR


@pytest.mark.parametrize("fmt", ["opus", "mp3"])
async def test_an_offset_starts_the_audio_exactly_there(
    tmp_path: Path, database_url: str, audio: AudioFactory, fmt: str
) -> None:
    # three seconds of tone, then two of silence: a stream from 2.25 s must turn silent 0.75 s in
    path = tmp_path / "steps.flac"
    encode_segments(path, "flac", "flac", [(440.0, 3.0), (0.0, 2.0)])
    async with serving(tmp_path, database_url, path) as server:
        response = await server.get(format=fmt, offset=2.25)
        assert response.headers["x-content-duration"] == "2.750"
    decoded = decode(response.content)
    assert decoded.duration == pytest.approx(2.75, abs=TOLERANCE[fmt])
    silent = next(index for index, level in enumerate(decoded.loudness) if level < 0.01 and index > 5)
    encoder_delay = 0.0 if fmt == "opus" else 0.026  # LAME's 1105 samples, not signalled in a stream
    assert silent / 100 == pytest.approx(0.75 + encoder_delay, abs=0.02)
    assert all(level > 0.1 for level in decoded.loudness[5:70])


async def test_the_original_stays_byte_identical(server: Server) -> None:
    for query in ({}, {"format": "raw"}):
        whole = await server.get(**query)
        assert whole.content == server.source
        assert whole.headers["content-type"] == "audio/flac"
    ranged = await server.http.get(
        server.stream_url(format="raw"), headers={**bearer(server.token), "Range": "bytes=10-19"}
    )
    assert ranged.status_code == 206
    assert ranged.content == server.source[10:20]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"format": "mp3", "bitrate": 16}, "invalid_bitrate"),
        ({"format": "opus", "bitrate": 512}, "invalid_bitrate"),
        ({"format": "opus", "offset": 4.0}, "offset_past_end"),
        ({"format": "opus", "offset": -1}, "invalid"),
        ({"format": "opus", "offset": "nan"}, "invalid"),
        ({"format": "flac"}, "invalid"),
        ({"bitrate": 128}, "invalid"),
        ({"offset": 1}, "invalid"),
    ],
)
async def test_requests_a_client_can_fix_are_422(server: Server, query: dict[str, object], code: str) -> None:
    response = await server.get(**query)
    assert response.status_code == 422, response.text
    assert error_code(response) == code


async def test_unknown_tracks_and_missing_tokens(server: Server) -> None:
    unknown = await server.http.get(
        "/api/tracks/00000000-0000-0000-0000-000000000000/stream?format=opus", headers=bearer(server.token)
    )
    assert unknown.status_code == 404
    anonymous = await server.http.get(server.stream_url(format="opus"))
    assert anonymous.status_code == 401
    with_token = await server.http.get(server.stream_url(format="opus", token=server.token))  # <audio src>
    assert with_token.status_code == 200


async def test_a_finished_transcode_is_served_from_the_cache_with_ranges(server: Server) -> None:
    first = await server.get(format="opus", bitrate=96)
    assert first.status_code == 200
    assert server.transcoder.stats.live == 1
    assert [path.stat().st_size for path in server.cache_files()] == [len(first.content)]

    second = await server.get(format="opus", bitrate=96)
    assert server.transcoder.stats.live == 1  # no second transcode
    assert server.transcoder.stats.from_cache == 1
    assert second.content == first.content
    assert second.headers["content-length"] == str(len(first.content))
    assert second.headers["accept-ranges"] == "bytes"
    assert second.headers["content-type"] == "audio/ogg; codecs=opus"
    etag = second.headers["etag"]

    ranged = await server.http.get(
        server.stream_url(format="opus", bitrate=96), headers={**bearer(server.token), "Range": "bytes=100-199"}
    )
    assert ranged.status_code == 206
    assert ranged.content == first.content[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(first.content)}"
    revalidated = await server.http.get(
        server.stream_url(format="opus", bitrate=96), headers={**bearer(server.token), "If-None-Match": etag}
    )
    assert revalidated.status_code == 304

    # another bitrate (also after rounding: 100 → 96 is the same recipe) and another format are other entries
    assert (await server.get(format="opus", bitrate=100)).content == first.content
    await server.get(format="mp3", bitrate=96)
    assert server.transcoder.stats.live == 2
    assert len(server.cache_files()) == 2


async def test_head_tells_whether_a_transcode_is_cached_without_starting_one(server: Server) -> None:
    live = await server.http.head(server.stream_url(format="mp3"), headers=bearer(server.token))
    assert live.status_code == 200
    assert live.headers["content-type"] == "audio/mpeg"
    assert "content-length" not in live.headers
    assert server.transcoder.stats.live == 0
    body = (await server.get(format="mp3")).content
    cached = await server.http.head(server.stream_url(format="mp3"), headers=bearer(server.token))
    assert cached.headers["content-length"] == str(len(body))


async def test_a_transcode_from_an_offset_is_not_cached(server: Server) -> None:
    await server.get(format="opus", offset=1)
    await server.get(format="opus", offset=1)
    assert server.transcoder.stats.live == 2
    assert server.cache_files() == []


async def test_the_cache_keeps_the_most_recently_played_within_its_size(
    tmp_path: Path, database_url: str, song: Path
) -> None:
    async with serving(tmp_path, database_url, song, TRANSCODE_CACHE_MAX_SIZE=90_000) as server:
        low = (await server.get(format="opus", bitrate=64)).content
        high = (await server.get(format="opus", bitrate=128)).content
        assert len(low) + len(high) > 90_000 > len(high)
        assert [path.stat().st_size for path in server.cache_files()] == [len(high)]
        await server.get(format="opus", bitrate=128)
        assert server.transcoder.stats.from_cache == 1
    async with serving(tmp_path, database_url, song, TRANSCODE_CACHE_MAX_SIZE=90_000) as restarted:
        again = await restarted.get(format="opus", bitrate=128)  # the cache outlives a restart
        assert again.headers["content-length"] == str(len(high))
        assert restarted.transcoder.stats.live == 0


# --- holding streams open: the limit, stopping -----------------------------------------------------------------


@dataclass
class HeldStream:
    """A transcoded stream on a raw socket whose reader is slow (tiny receive buffer) and can hang up."""

    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def hang_up(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def hold_stream(server: Server, **query: object) -> HeldStream:
    """Request a stream, read its headers and first bytes, then stop reading (the socket stays open)."""
    url = urlsplit(server.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server cannot run far ahead
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (url.hostname, url.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    target = server.stream_url(**query, token=server.token)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = dict(line.split(": ", 1) for line in head[1:] if line)
    if status == 200:
        await reader.read(1024)
    return HeldStream(status, {key.lower(): value for key, value in headers.items()}, reader, writer)


def transcode_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("transcode-")]


@pytest.fixture
def long_song(audio: AudioFactory, tmp_path: Path) -> Path:
    return audio.make(tmp_path / "long.flac", "flac", TrackSpec(title="A Minute", duration=60.0))


async def test_beyond_the_limit_a_clear_503_and_stopping_a_stream_frees_its_slot(
    tmp_path: Path, database_url: str, long_song: Path
) -> None:
    async with serving(tmp_path, database_url, long_song, TRANSCODE_MAX_CONCURRENT=2) as server:
        first = await hold_stream(server, format="opus", bitrate=256)
        second = await hold_stream(server, format="mp3", bitrate=320)
        assert (first.status, second.status) == (200, 200)
        assert server.transcoder.active == 2

        refused = await server.get(format="opus", bitrate=64)
        assert refused.status_code == 503
        assert error_code(refused) == "busy"
        assert "2 streams" in refused.json()["error"]["message"]
        assert refused.headers["retry-after"] == "5"
        original = await server.get()  # the original audio needs no transcode slot
        assert original.content == server.source

        await first.hang_up()

        async def slot_freed() -> bool:
            return server.transcoder.active == 1 and len(transcode_threads()) == 1

        await eventually(slot_freed, within=10)
        accepted = await server.get(format="opus", bitrate=64)
        assert accepted.status_code == 200
        assert decode(accepted.content).duration == pytest.approx(60.0, abs=0.01)
        await second.hang_up()
        await eventually(lambda: _idle(server), within=10)
        # only the finished transcode is kept: the stopped ones left nothing behind, not even temp files
        assert [path.stat().st_size for path in server.cache_files()] == [len(accepted.content)]


async def _idle(server: Server) -> bool:
    return server.transcoder.active == 0 and not transcode_threads()


async def test_closing_the_transcoder_stops_live_transcodes(tmp_path: Path, database_url: str, long_song: Path) -> None:
    async with serving(tmp_path, database_url, long_song) as server:
        held = await hold_stream(server, format="mp3", bitrate=320)
        assert held.status == 200
        assert transcode_threads()
        await server.transcoder.close()  # what the lifespan does at shutdown
        assert not transcode_threads()
        rest = await asyncio.wait_for(held.reader.read(), timeout=10)  # the response is cut off
        assert not rest.endswith(b"0\r\n\r\n")
        await held.hang_up()


async def test_the_stream_route_documents_transcoding_in_openapi(server: Server) -> None:
    spec = (await server.http.get("/openapi.json")).json()
    route = spec["paths"]["/api/tracks/{track_id}/stream"]["get"]
    parameters = {parameter["name"]: parameter for parameter in route["parameters"]}
    assert {"format", "bitrate", "offset", "token"} <= set(parameters)
    assert "busy" in route["description"]
    assert "Accept-Ranges: none" in route["description"]
