"""Files every player plays are accepted even when something about them is off — and the verdict says what:
Lyrics3 blocks, chained Ogg streams, bytes after the last MP3/AAC frame, data past a WAV/AIFF's declared end.
What the fast checks cannot tell from damage, a decoder (PyAV) settles; what does not decode is refused."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import av
import av.error
import httpx
import pytest

from soundtime.library.integrity import check_complete, decoding, id3v2_end, mpeg_frame
from soundtime.library.tags import AudioRejected, read_tags
from tests.support.api import bearer, register
from tests.support.audio import EXTENSIONS, AudioFactory, TrackSpec

SONG = TrackSpec(title="Old Collection", artist="Someone", album="Decades", duration=2.0)


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> AudioFactory:
    return AudioFactory(tmp_path_factory.mktemp("audio-cache"))


def id3v1(title: str) -> bytes:
    return b"TAG" + title.encode().ljust(30, b"\x00") + bytes(30 + 30 + 4 + 30) + b"\xff"


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def with_serial(ogg: bytes, serial: int) -> bytes:
    """The Ogg stream with every page moved to another serial number (CRCs recomputed)."""
    out, pos = bytearray(), 0
    while pos < len(ogg):
        count = ogg[pos + 26]
        end = pos + 27 + count + sum(ogg[pos + 27 : pos + 27 + count])
        page = bytearray(ogg[pos:end])
        page[14:18] = struct.pack("<I", serial)
        page[22:26] = bytes(4)
        page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
        out += page
        pos = end
    return bytes(out)


def accepted(path: Path, *codes: str) -> list[str]:
    """read_tags accepts ``path`` with exactly these defects; their messages."""
    tags = read_tags(path)
    assert [d.code for d in tags.defects] == list(codes)
    return [d.message for d in tags.defects]


# --- Lyrics3 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lyrics",
    [
        b"LYRICSBEGIN" + b"[00:01]la la la\r\n" * 20 + b"LYRICSEND",  # Lyrics3 v1 (only ever before an ID3v1 tag)
        b"LYRICSBEGININD00003110" + b"LYR00050" + b"x" * 50 + b"000080LYRICS200",  # Lyrics3 v2
    ],
    ids=["v1", "v2"],
)
def test_an_mp3_with_a_lyrics3_block_before_its_id3v1_tag_is_complete(
    factory: AudioFactory, tmp_path: Path, lyrics: bytes
) -> None:
    path = factory.make(tmp_path / "song.mp3", "mp3", SONG)
    path.write_bytes(path.read_bytes() + lyrics + id3v1("Old Collection"))
    assert accepted(path) == []  # nothing wrong: the block is a tag like the others


# --- bytes after the audio ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["mp3", "aac"])
@pytest.mark.parametrize(
    "junk",
    [os.urandom(3000), b"<html><body>404 Not Found</body></html>\n" * 40, bytes(range(256)) * 700],
    ids=["random", "text", "large"],
)
def test_bytes_after_the_last_frame_are_a_defect_not_a_refusal(
    factory: AudioFactory, tmp_path: Path, fmt: str, junk: bytes
) -> None:
    path = factory.make(tmp_path / f"song{EXTENSIONS[fmt]}", fmt, SONG)
    audio = path.read_bytes()
    path.write_bytes(audio + junk)
    (message,) = accepted(path, "trailing_data")
    assert message.startswith(f"{len(junk):,} bytes after its last")
    assert read_tags(path).duration_secs == pytest.approx(SONG.duration, abs=0.1)


def test_bytes_after_the_audio_do_not_hide_audio_that_does_not_decode(factory: AudioFactory, tmp_path: Path) -> None:
    """The decoder checks everything before the extra bytes: a damaged middle is refused, not waved through."""
    path = factory.make(tmp_path / "song.mp3", "mp3", SONG)
    data = bytearray(path.read_bytes())
    pos, starts = id3v2_end(bytes(data[:10])), []
    while (frame := mpeg_frame(bytes(data[pos : pos + 4]))) is not None:
        starts.append(pos)
        pos += frame.length
    middle = starts[len(starts) // 2]
    data[middle : middle + 1500] = random.Random(1).randbytes(1500)  # a few frames destroyed
    path.write_bytes(bytes(data) + b"trailing text, not audio\n" * 40)
    with pytest.raises(AudioRejected) as refused:
        read_tags(path)
    assert refused.value.code == "corrupt"
    assert "does not decode" in refused.value.reason


def test_a_frame_cut_short_after_all_is_still_truncated(factory: AudioFactory, tmp_path: Path) -> None:
    path = factory.make(tmp_path / "song.mp3", "mp3", SONG)
    data = path.read_bytes()
    for cut in (len(data) - 100, len(data) - 2):
        path.write_bytes(data[:cut])
        with pytest.raises(AudioRejected) as refused:
            read_tags(path)
        assert refused.value.code == "truncated"


def test_the_decoder_works_within_its_budget(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoding, "DECODE_BUDGET_SECONDS", -1.0)  # no time at all: nothing can be confirmed
    path = factory.make(tmp_path / "song.mp3", "mp3", SONG)
    path.write_bytes(path.read_bytes() + os.urandom(2000))
    with pytest.raises(AudioRejected, match="could not be decoded within"):
        read_tags(path)


# --- chained Ogg --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_chained_ogg_streams_are_accepted_and_last_as_long_as_all_of_them(
    factory: AudioFactory, tmp_path: Path, fmt: str
) -> None:
    first = factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, SONG).read_bytes()
    second = factory.make(tmp_path / f"b{EXTENSIONS[fmt]}", fmt, TrackSpec(title="Part Two", duration=3.0))
    path = tmp_path / f"chained{EXTENSIONS[fmt]}"
    path.write_bytes(first + with_serial(second.read_bytes(), 0x5EC0_0D00) + with_serial(first, 0x7417_0D00))
    (message,) = accepted(path, "chained_ogg")
    assert "several Ogg streams" in message
    tags = read_tags(path)
    assert tags.title == "Old Collection"  # the first stream's tags
    assert tags.duration_secs == pytest.approx(2.0 + 3.0 + 2.0, abs=0.15)


def test_a_chained_ogg_whose_second_stream_is_cut_is_refused(factory: AudioFactory, tmp_path: Path) -> None:
    first = factory.make(tmp_path / "a.ogg", "ogg", SONG).read_bytes()
    second = with_serial(factory.make(tmp_path / "b.ogg", "ogg", SONG).read_bytes(), 99)
    path = tmp_path / "chained.ogg"
    path.write_bytes(first + second[: len(second) - 700])
    with pytest.raises(AudioRejected) as refused:
        read_tags(path)
    assert refused.value.code == "truncated"


# --- WAV and AIFF -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "aiff"])
def test_data_past_the_declared_end_of_a_wav_or_aiff_is_a_defect(
    factory: AudioFactory, tmp_path: Path, fmt: str
) -> None:
    path = factory.make(tmp_path / f"song{EXTENSIONS[fmt]}", fmt, SONG)
    path.write_bytes(path.read_bytes() + os.urandom(10_000))
    assert accepted(path, "data_past_end") == ["10,000 bytes after its declared end are not part of it (ignored)"]
    assert [d.code for d in check_complete(path, fmt)] == ["data_past_end"]


# --- free format --------------------------------------------------------------------------------------------------


def free_format(path: Path) -> Path:
    """The MP3 rewritten as free format (bitrate index 0 in every frame: sizes follow from the sync distance)."""
    data = bytearray(path.read_bytes())
    pos = id3v2_end(bytes(data[:10]))
    while (frame := mpeg_frame(bytes(data[pos : pos + 4]))) is not None:
        data[pos + 2] &= 0x0F
        pos += frame.length
    path.write_bytes(bytes(data))
    return path


def test_free_format_mp3_is_refused_because_ffmpeg_cannot_decode_it(factory: AudioFactory, tmp_path: Path) -> None:
    spec = TrackSpec(title="Free", duration=2.0, sample_rate=48000)  # 128 kbit/s at 48 kHz: frames of 384 bytes
    path = free_format(factory.make(tmp_path / "free.mp3", "mp3", spec))
    decoded = 0
    try:
        with av.open(str(path), format="mp3") as container:
            for packet in container.demux(container.streams.audio[0]):
                try:
                    decoded += sum(frame.samples for frame in packet.decode())
                except av.error.FFmpegError:
                    continue
    except av.error.FFmpegError:
        pass  # not even opened
    assert decoded == 0  # the fact the refusal rests on: if FFmpeg learns free format, accept these files
    with pytest.raises(AudioRejected) as refused:
        read_tags(path)
    assert refused.value.code == "unsupported_format"
    assert refused.value.reason.startswith("Free-format MP3")


# --- the verdict reaches the uploader -----------------------------------------------------------------------------


async def test_an_upload_accepted_with_a_defect_says_so(
    client: httpx.AsyncClient, factory: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    path = factory.make(tmp_path / "song.mp3", "mp3", SONG)
    data = path.read_bytes() + b"junk after the audio\n" * 100
    single = await client.post("/api/upload", files={"file": ("song.mp3", data)}, headers=bearer(token))
    assert single.status_code == 201, single.text
    assert single.json()["defects"] == [
        {"code": "trailing_data", "message": "2,100 bytes after its last MP3 frame are not audio (ignored)"}
    ]
    clean = factory.make(tmp_path / "clean.flac", "flac", SONG).read_bytes()
    files = [("files", ("clean.flac", clean)), ("files", ("again.mp3", data))]
    batch = await client.post("/api/upload/batch", files=files, headers=bearer(token))
    assert [r["defects"] for r in batch.json()["results"]] == [[], single.json()["defects"]]
