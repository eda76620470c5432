"""stream with format, maxBitRate, timeOffset and estimateContentLength: what real client libraries receive, decoded.

A six-second FLAC (two seconds of silence, then a tone) is uploaded; py-opensonic and py-sonic ask for it as MP3
and Opus at a bitrate, from an offset, with an estimated length, and the bytes they get are decoded with PyAV.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import libsonic
import pytest
from libopensonic import AsyncConnection

from soundtime.streaming.transcode import Format, TranscodeOptions
from soundtime.subsonic.transcoding import Defaults, Request, plan
from tests.subsonic.conftest import Library
from tests.subsonic.test_clients import in_thread, split
from tests.support.api import upload
from tests.support.audio import decode, encode_segments

#: An MP3 stream has no header to tell its encoder's delay and padding (at most 51 ms); Opus signals both.
TOLERANCE = {"mp3": 0.065, "opus": 0.01}
DEFAULTS = Defaults(Format.MP3, opus_kbps=128, mp3_kbps=192)


def asked(fmt: str | None = None, max_bitrate: int = 0, offset: float = 0.0) -> Request:
    return Request(fmt, max_bitrate, offset)


@pytest.mark.parametrize(
    ("request_", "source", "expected"),
    [
        (asked(), ("flac", 900), None),
        (asked("raw", 128, 30.0), ("flac", 900), None),  # raw is raw, whatever else is asked
        (asked("mp3"), ("flac", 900), TranscodeOptions(Format.MP3, 192)),
        (asked("mp3"), ("mp3", 320), None),  # already MP3, no limit
        (asked("mp3", 128), ("mp3", 320), TranscodeOptions(Format.MP3, 128)),
        (asked("mp3", 320), ("mp3", 128), None),  # within the limit
        (asked("opus", 320), ("mp3", 128), TranscodeOptions(Format.OPUS, 256)),  # another format, at most 256
        (asked("opus", 100), ("flac", 900), TranscodeOptions(Format.OPUS, 96)),  # rounded down
        (asked(None, 128), ("flac", 900), TranscodeOptions(Format.MP3, 128)),  # the server's format
        (asked(None, 128), ("opus", 160), TranscodeOptions(Format.OPUS, 128)),  # keeps the file's codec
        (asked(None, 128), ("flac", None), TranscodeOptions(Format.MP3, 128)),  # bitrate unknown: limited
        (asked(None, 1411), ("flac", 900), None),
        (asked("aac", 0), ("flac", 900), None),  # a format this server does not make: not a reason to transcode
        (asked("aac", 96), ("flac", 900), TranscodeOptions(Format.MP3, 96)),
        (asked(None, 0, 42.5), ("mp3", 160), TranscodeOptions(Format.MP3, 160, 42.5)),  # as rich as the file
        (asked(None, 0, 42.5), ("flac", 900), TranscodeOptions(Format.MP3, 192, 42.5)),
        (asked(None, 320, 10.0), ("mp3", 128), TranscodeOptions(Format.MP3, 128, 10.0)),
    ],
)
def test_what_is_transcoded(request_: Request, source: tuple[str, int | None], expected: TranscodeOptions) -> None:
    assert plan(request_, *source, DEFAULTS) == expected


@pytest.fixture
async def song(library: Library, tmp_path: Path) -> dict[str, Any]:
    """A six-second FLAC (two seconds of silence, then four of a tone), uploaded: the song as /api shows it."""
    path = tmp_path / "six.flac"
    await asyncio.to_thread(encode_segments, path, "flac", "flac", [(0, 2.0), (440, 4.0)])
    response = await upload(library.client, library.alice.token, path)
    assert response.status_code == 201, response.text
    track: dict[str, Any] = response.json()["track"]
    return track


@pytest.fixture
async def opensonic(library: Library, live_server: str) -> AsyncIterator[AsyncConnection]:
    base, port = split(live_server)
    conn = AsyncConnection(base, "alice", library.alice.app_password, port=port, app_name="py-opensonic-test")
    yield conn
    await conn.cleanup()


def kbps(data: bytes, seconds: float) -> float:
    return len(data) * 8 / seconds / 1000


async def test_py_opensonic_streams_mp3_and_opus_at_a_bitrate(song: dict[str, Any], opensonic: AsyncConnection) -> None:
    sid = f"tr-{song['id']}"
    for fmt, max_bit_rate, expected_kbps, media_type, codec in (
        ("mp3", 128, 128, "audio/mpeg", ("mp3", "mp3float")),
        ("opus", 100, 96, "audio/ogg; codecs=opus", ("ogg", "opus")),
    ):
        response = await opensonic.stream(sid, max_bit_rate=max_bit_rate, tformat=fmt)
        assert response.status == 200
        assert response.headers["Content-Type"] == media_type
        data = await response.read()
        decoded = await asyncio.to_thread(decode, data)
        assert (decoded.container, decoded.codec) == codec
        assert decoded.duration == pytest.approx(6.0, abs=TOLERANCE[fmt])
        assert max(decoded.loudness[:190]) < 0.01 < min(decoded.loudness[230:550])  # silence, then the tone
        # the bitrate, over the tone (Opus's VBR spends next to nothing on silence)
        tone = await (await opensonic.stream(sid, max_bit_rate=max_bit_rate, tformat=fmt, time_offset=2)).read()
        assert kbps(tone, 4.0) == pytest.approx(expected_kbps, rel=0.1)

    raw = await opensonic.stream(sid, max_bit_rate=128, tformat="raw")
    assert raw.headers["Content-Type"] == "audio/flac"


async def test_py_opensonic_seeks_with_a_time_offset(song: dict[str, Any], opensonic: AsyncConnection) -> None:
    extensions = {e.name: e.versions for e in await opensonic.get_open_subsonic_extensions()}
    assert extensions["transcodeOffset"] == [1]
    response = await opensonic.stream(f"tr-{song['id']}", tformat="opus", time_offset=2)
    decoded = await asyncio.to_thread(decode, await response.read())
    assert decoded.duration == pytest.approx(4.0, abs=TOLERANCE["opus"])
    assert min(decoded.loudness[3:390]) > 0.01  # starts in the tone: the two seconds of silence are skipped


async def test_py_sonic_gets_an_estimated_length_that_the_stream_fills(
    library: Library, song: dict[str, Any], live_server: str
) -> None:
    """With estimateContentLength, a live transcode announces a Content-Length and sends exactly that many bytes:
    the MP3 stream, then zeros (junk after the last frame, which players skip; FFmpeg warns once)."""
    base, port = split(live_server)
    conn = libsonic.Connection(base, "alice", library.alice.app_password, port=port, appName="py-sonic-test")
    stream = await in_thread(conn.stream, f"tr-{song['id']}", maxBitRate=96, estimateContentLength=True, timeOffset=1)
    data = await in_thread(stream.read)
    length = int(stream.headers["Content-Length"])
    assert len(data) == length == TranscodeOptions(Format.MP3, 96).estimated_size(5.0)

    plain = await in_thread(conn.stream, f"tr-{song['id']}", maxBitRate=96, timeOffset=1)
    assert "Content-Length" not in plain.headers  # live, and no estimate asked for
    stream_only = await in_thread(plain.read)
    assert data == stream_only + bytes(length - len(stream_only))  # the same stream, then zeros
    assert length - len(stream_only) < 96 * 125 * 0.2  # under 0.2 s of audio at 96 kbps
    decoded = await asyncio.to_thread(decode, stream_only)
    assert (decoded.container, decoded.codec) == ("mp3", "mp3float")
    assert decoded.duration == pytest.approx(5.0, abs=TOLERANCE["mp3"])


async def test_head_errors_and_the_cache_through_rest(library: Library, song: dict[str, Any]) -> None:
    sid = f"tr-{song['id']}"
    rest = library.client
    head = await rest.head(
        "/rest/stream", params={**library.token_params(), "id": sid, "format": "mp3", "estimateContentLength": "true"}
    )
    assert head.status_code == 200
    assert head.headers["content-type"] == "audio/mpeg"
    assert head.headers["content-length"] == str(TranscodeOptions(Format.MP3, 192).estimated_size(6.0))
    assert head.content == b""

    first = await library.call("stream", id=sid, format="mp3")  # from the start: kept once finished
    assert "content-length" not in first.headers
    again = await library.call("stream", id=sid, format="mp3", estimateContentLength="true")
    assert again.content == first.content
    assert again.headers["content-length"] == str(len(first.content))  # exact: from the cache
    ranged = await rest.get(
        "/rest/stream", params={**library.token_params(), "id": sid, "format": "mp3"}, headers={"Range": "bytes=0-9"}
    )
    assert ranged.status_code == 206
    assert ranged.content == first.content[:10]

    past = await library.json("stream", id=sid, format="mp3", timeOffset=7)
    assert past["error"]["code"] == 0
    assert "past the end" in past["error"]["message"]
    for bad in ("soon", "-1", "nan"):
        assert (await library.json("stream", id=sid, timeOffset=bad))["error"]["code"] == 0
    xml = await library.xml("stream", id="tr-00000000-0000-4000-8000-000000000000", format="mp3")
    assert xml.find("{http://subsonic.org/restapi}error").get("code") == "70"  # type: ignore[union-attr]
