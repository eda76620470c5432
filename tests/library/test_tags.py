"""read_tags: format detection, tag normalisation, covers and rejection of non-audio."""

from __future__ import annotations

import io
import pickle
import random
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutagen.flac import FLAC
from mutagen.id3 import APIC, ID3

from soundtime.library import tags as tags_module
from soundtime.library.tags import AudioRejected, AudioTags, CoverArt, read_tags
from tests.support.audio import (
    EXTENSIONS,
    FORMATS,
    AudioFactory,
    TrackSpec,
    encode_with,
    make_cover_jpeg,
    make_cover_png,
    write_tags,
)

ALL_FORMATS = (*FORMATS, "aac")
ID3_FORMATS = ("mp3", "wav", "aiff", "aac")
SAMPLE_RATES = {"opus": 48000}

FULL_SPEC = TrackSpec(
    title="Song Title",
    artist="Some Artist",
    album="Some Album",
    album_artist="Various Artists",
    track_number=3,
    disc_number=2,
    year=1975,
    genre="Rock",
    cover=make_cover_png(7),
)


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> AudioFactory:
    return AudioFactory(tmp_path_factory.mktemp("audio-cache"))


def make(factory: AudioFactory, tmp_path: Path, fmt: str, spec: TrackSpec = FULL_SPEC) -> Path:
    return factory.make(tmp_path / f"track{EXTENSIONS[fmt]}", fmt, spec)


def rejection(path: Path) -> str:
    with pytest.raises(AudioRejected) as info:
        read_tags(path)
    assert info.value.reason
    return info.value.code


# -- happy path ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_reads_every_tag_and_stream_property(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    found = read_tags(make(factory, tmp_path, fmt))

    assert found.format == fmt
    assert (found.title, found.artist, found.album_artist, found.album) == (
        "Song Title",
        "Some Artist",
        "Various Artists",
        "Some Album",
    )
    assert (found.track_number, found.disc_number, found.year, found.genre) == (3, 2, 1975, "Rock")
    assert found.cover == CoverArt(make_cover_png(7), "image/png")
    assert found.duration_secs == pytest.approx(1.0, abs=0.2)
    assert found.bitrate_kbps is not None
    assert found.bitrate_kbps > 0
    assert found.sample_rate == SAMPLE_RATES.get(fmt, 44100)
    assert found.channels == 2


@pytest.mark.parametrize("fmt", ["mp3", "flac", "opus", "m4a"])
def test_mono_and_other_rates(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    spec = TrackSpec(duration=2.5, sample_rate=32000 if fmt != "m4a" else 48000, channels=1)
    found = read_tags(make(factory, tmp_path, fmt, spec))
    assert found.channels == 1
    assert found.sample_rate == (48000 if fmt == "opus" else spec.sample_rate)
    assert found.duration_secs == pytest.approx(2.5, abs=0.2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_jpeg_cover(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    jpeg = make_cover_jpeg(3)
    found = read_tags(make(factory, tmp_path, fmt, TrackSpec(cover=jpeg)))
    assert found.cover == CoverArt(jpeg, "image/jpeg")


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("mp3", "song.flac"), ("wav", "song.mp3"), ("flac", "song"), ("aac", "song.m4a"), ("opus", "x.ogg")],
)
def test_format_comes_from_content_not_name(factory: AudioFactory, tmp_path: Path, fmt: str, name: str) -> None:
    path = factory.make(tmp_path / name, fmt)
    assert read_tags(path).format == fmt


def test_generated_files_differ_when_tags_do(factory: AudioFactory, tmp_path: Path) -> None:
    for fmt in FORMATS:
        first = factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, TrackSpec(title="One"))
        second = factory.make(tmp_path / f"b{EXTENSIONS[fmt]}", fmt, TrackSpec(title="Two"))
        assert first.read_bytes() != second.read_bytes(), fmt


# -- missing and odd tags -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_missing_tags_are_none(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = make(factory, tmp_path, fmt)
    write_tags(path, fmt, {})
    found = read_tags(path)
    assert found == AudioTags(
        format=fmt,
        title=None,
        artist=None,
        album_artist=None,
        album=None,
        track_number=None,
        disc_number=None,
        year=None,
        genre=None,
        duration_secs=found.duration_secs,
        bitrate_kbps=found.bitrate_kbps,
        sample_rate=found.sample_rate,
        channels=found.channels,
        cover=None,
    )


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_odd_values_are_normalised(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = make(factory, tmp_path, fmt)
    odd = {
        "title": " \x00Padded Title \x00",
        "artist": "a" * 1000,
        "album_artist": "   ",
        "album": "\x00",
        "track_number": "3/12",
        "disc_number": "01/2",
        "year": "1975-10-31",
        "genre": " g" * 200,
    }
    write_tags(path, fmt, odd)
    found = read_tags(path)
    assert found.title == "Padded Title"
    assert found.artist == "a" * 255
    assert (found.album_artist, found.album) == (None, None)
    assert (found.track_number, found.disc_number, found.year) == (3, 1, 1975)
    assert found.genre is not None
    assert len(found.genre) <= 128
    assert found.genre.startswith("g g")


TRACK_CASES = [("40000", None), ("0", None), ("32767", 32767), ("0007", 7), ("7 / 9", 7), ("A1", None), ("-2", None)]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        (fmt, text, expected)
        for fmt in ("mp3", "flac", "m4a")
        for text, expected in TRACK_CASES
        if fmt != "m4a" or text[0].isdigit()  # MP4 holds integers: only numeric spellings fit
    ],
)
def test_track_numbers(factory: AudioFactory, tmp_path: Path, fmt: str, text: str, expected: int | None) -> None:
    path = make(factory, tmp_path, fmt)
    write_tags(path, fmt, {"track_number": text})
    assert read_tags(path).track_number == expected


@pytest.mark.parametrize("fmt", ["mp3", "flac", "m4a"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("40000", None),
        ("0", None),
        ("1975", 1975),
        ("1975-10-31", 1975),
        ("2001-01-01T10:00:00Z", 2001),
        ("9999", 9999),
        ("summer", None),
    ],
)
def test_years(factory: AudioFactory, tmp_path: Path, fmt: str, text: str, expected: int | None) -> None:
    path = make(factory, tmp_path, fmt)
    write_tags(path, fmt, {"year": text})
    assert read_tags(path).year == expected


def test_id3_numeric_genre_and_multiple_artists(factory: AudioFactory, tmp_path: Path) -> None:
    path = make(factory, tmp_path, "mp3")
    write_tags(path, "mp3", {"genre": "(17)", "artist": "One\x00Two"})
    found = read_tags(path)
    assert found.genre == "Rock"
    assert found.artist == "One; Two"


def test_vorbis_album_artist_spellings_and_repeated_fields(factory: AudioFactory, tmp_path: Path) -> None:
    path = make(factory, tmp_path, "flac")
    audio = FLAC(path)
    audio.tags.clear()
    audio.tags["ALBUM ARTIST"] = ["The Band"]
    audio.tags["ARTIST"] = ["First", "Second", "First"]
    audio.tags["DATE"] = ["1969"]
    audio.save()
    found = read_tags(path)
    assert found.album_artist == "The Band"
    assert found.artist == "First; Second"
    assert found.year == 1969


# -- covers -------------------------------------------------------------------------------------


def test_front_cover_is_preferred(factory: AudioFactory, tmp_path: Path) -> None:
    path = make(factory, tmp_path, "mp3", TrackSpec())
    back, front = make_cover_png(1), make_cover_png(2)
    tags = ID3(path)
    tags.add(APIC(encoding=3, mime="image/png", type=4, desc="back", data=back))
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="front", data=front))
    tags.save(path)
    assert read_tags(path).cover == CoverArt(front, "image/png")


@pytest.mark.parametrize(
    ("image", "mime"),
    [
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
        (b"RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00", "image/webp"),
        (b"\xff\xd8\xff\xe0 mislabelled", "image/jpeg"),
    ],
)
@pytest.mark.parametrize("fmt", ["flac", "ogg", "mp3", "m4a"])
def test_cover_mime_comes_from_magic_bytes(
    factory: AudioFactory, tmp_path: Path, fmt: str, image: bytes, mime: str
) -> None:
    found = read_tags(make(factory, tmp_path, fmt, TrackSpec(cover=image)))
    assert found.cover == CoverArt(image, mime)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "opus", "m4a"])
def test_unrecognised_cover_is_ignored(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    found = read_tags(make(factory, tmp_path, fmt, TrackSpec(cover=b"<svg>not a raster image</svg>")))
    assert found.cover is None
    assert found.title == "Test Tone"


def test_oversized_cover_is_ignored(factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make(factory, tmp_path, "flac", TrackSpec(cover=make_cover_png(1, size=32)))
    assert read_tags(path).cover is not None
    monkeypatch.setattr(tags_module, "MAX_COVER_BYTES", 100)
    assert read_tags(path).cover is None


# -- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        random.Random(1).randbytes(50_000),
        b"Just some text.\nNothing to hear here.\n" * 40,
        make_cover_png(5, size=64),
        make_cover_jpeg(5),
        b"RIFF\x10\x00\x00\x00WEBPVP8 \x04\x00\x00\x00abcd",
        b"%PDF-1.7\n" + bytes(2000),
    ],
    ids=["empty", "random", "text", "png", "jpeg", "webp", "pdf"],
)
def test_non_audio_is_rejected_as_not_audio(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "upload.mp3"
    path.write_bytes(content)
    assert rejection(path) == "not_audio"


@pytest.mark.parametrize(
    "content",
    [
        b"wvpk" + bytes(60),
        b"MAC \x96\x0f" + bytes(60),
        b"OggS\x00\x02" + bytes(20) + b"\x01\x13" + b"Speex   " + bytes(80),
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11" + bytes(60),
        b"MThd\x00\x00\x00\x06" + bytes(60),
    ],
    ids=["wavpack", "monkeys", "speex", "wma", "midi"],
)
def test_known_but_unsupported_formats(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    assert rejection(path) == "unsupported_format"


@pytest.mark.parametrize(
    ("muxer", "encoder"),
    [("mp2", "mp2"), ("ac3", "ac3"), ("asf", "wmav2"), ("wv", "wavpack"), ("tta", "tta")],
)
def test_real_files_of_unsupported_formats(tmp_path: Path, muxer: str, encoder: str) -> None:
    path = tmp_path / "upload.mp3"
    encode_with(path, muxer, encoder, TrackSpec(), options={"b": "128k"})
    assert rejection(path) == "unsupported_format"


def test_apple_lossless_in_mp4_is_m4a(tmp_path: Path) -> None:
    path = tmp_path / "alac.m4a"
    encode_with(path, "ipod", "alac", TrackSpec(duration=0.5))
    found = read_tags(path)
    assert (found.format, found.sample_rate, found.channels) == ("m4a", 44100, 2)


def _zip_holding(name: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(name, payload)
    return buffer.getvalue()


def test_containers_holding_audio_are_not_audio(factory: AudioFactory, tmp_path: Path) -> None:
    mp3 = make(factory, tmp_path, "mp3").read_bytes()
    for name, content in {
        "zip": _zip_holding("song.mp3", mp3),
        "avi": b"RIFF" + struct.pack("<I", len(mp3) + 4) + b"AVI " + mp3,
        "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100),
    }.items():
        path = tmp_path / f"upload.{name}"
        path.write_bytes(content)
        assert rejection(path) == "not_audio", name


def test_tag_without_audio_is_no_audio(tmp_path: Path) -> None:
    path = tmp_path / "only-a-tag.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(16))  # an ID3v2.4 tag of padding
    assert rejection(path) == "no_audio"


def test_wav_with_empty_data_is_no_audio(tmp_path: Path) -> None:
    fmt_chunk = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 2, 44100, 176400, 4, 16)
    body = b"WAVE" + fmt_chunk + b"data" + struct.pack("<I", 0)
    path = tmp_path / "silence.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert rejection(path) == "no_audio"


def test_unreadable_path_is_rejected(tmp_path: Path) -> None:
    assert rejection(tmp_path / "missing.flac") == "corrupt"
    assert rejection(tmp_path) == "corrupt"


def test_rejection_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(AudioRejected("truncated", "Cut short.")))
    assert (error.code, error.reason, str(error)) == ("truncated", "Cut short.", "Cut short.")


# -- property tests -----------------------------------------------------------------------------


def outcome(path: Path) -> str:
    """read_tags must either succeed or raise AudioRejected; anything else fails the test."""
    try:
        read_tags(path)
    except AudioRejected as exc:
        return exc.code
    return "ok"


_CODES = {"ok", "not_audio", "unsupported_format", "truncated", "corrupt", "no_audio"}
_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_PROPERTY
@given(
    prefix=st.sampled_from([b"", b"ID3\x04\x00\x00\x00\x00\x00\x05", b"fLaC", b"OggS", b"\xff\xfb\x90\x64"]),
    content=st.binary(max_size=4096),
)
def test_arbitrary_bytes_never_escape(tmp_path: Path, prefix: bytes, content: bytes) -> None:
    path = tmp_path / "fuzz.bin"
    path.write_bytes(prefix + content)
    assert outcome(path) in _CODES


@pytest.fixture(scope="module")
def originals(factory: AudioFactory, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("originals")
    return {fmt: make(factory, folder, fmt) for fmt in ALL_FORMATS}


@st.composite
def mutations(draw: st.DrawFn, size: int) -> list[tuple[str, int, int]]:
    kinds = st.sampled_from(["flip", "zero", "cut", "insert", "delete"])
    return draw(st.lists(st.tuples(kinds, st.integers(0, size - 1), st.integers(1, 64)), min_size=1, max_size=4))


def mutate(data: bytes, edits: list[tuple[str, int, int]], rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for kind, offset, length in edits:
        position = offset % max(1, len(buffer))
        if kind == "flip" and buffer:
            buffer[position] ^= 1 << rng.randrange(8)
        elif kind == "zero":
            buffer[position : position + length] = bytes(len(buffer[position : position + length]))
        elif kind == "cut":
            del buffer[position:]
        elif kind == "insert":
            buffer[position:position] = rng.randbytes(length)
        else:
            del buffer[position : position + length]
    return bytes(buffer)


@_PROPERTY
@given(data=st.data(), fmt=st.sampled_from(ALL_FORMATS), seed=st.integers(0, 2**32))
def test_mutated_files_never_escape(
    tmp_path: Path, originals: dict[str, Path], data: st.DataObject, fmt: str, seed: int
) -> None:
    original = originals[fmt].read_bytes()
    edits = data.draw(mutations(len(original)))
    path = tmp_path / f"mutated{EXTENSIONS[fmt]}"
    path.write_bytes(mutate(original, edits, random.Random(seed)))
    assert outcome(path) in _CODES
