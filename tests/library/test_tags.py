"""read_tags: format detection, tag normalisation, covers and rejection of non-audio."""

from __future__ import annotations

import io
import pickle
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutagen.flac import FLAC
from mutagen.id3 import APIC, ID3, TALB, TIT2, TPE1
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from soundtime.library import tags as tags_module
from soundtime.library.integrity import id3v2_end
from soundtime.library.tags import AudioRejected, AudioTags, CoverArt, normalise, read_tags
from tests.support.audio import (
    EXTENSIONS,
    FORMATS,
    AudioFactory,
    TrackSpec,
    encode_with,
    flac_blocks,
    flac_file,
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
    monkeypatch.setattr(normalise, "MAX_COVER_BYTES", 100)
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


# -- values that must fit the database ----------------------------------------------------------


def wav_bytes(*, rate: int, channels: int, block_align: int, data: bytes) -> bytes:
    """A PCM WAV declaring any rate and channel count (16 bits per sample)."""
    byte_rate = min(rate * block_align, 0xFFFFFFFF)
    fmt_chunk = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, byte_rate, block_align, 16)
    body = b"WAVE" + fmt_chunk + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("rate", "channels", "expected_rate", "expected_channels"),
    [
        (3_000_000_000, 2, None, 2),
        (44100, 300, 44100, None),
        (44100, 40000, 44100, None),  # a signed 16-bit field: mutagen reads -25536
        (768_000, 255, 768_000, 255),
    ],
)
def test_stream_properties_outside_database_ranges_are_dropped(
    tmp_path: Path, rate: int, channels: int, expected_rate: int | None, expected_channels: int | None
) -> None:
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(rate=rate, channels=channels, block_align=4, data=bytes(40_000)))
    found = read_tags(path)
    assert (found.sample_rate, found.channels) == (expected_rate, expected_channels)
    # The declared rates make mutagen's bitrate absurd (hundreds of Gbit/s); it must not reach an INTEGER column.
    assert found.bitrate_kbps is None or 1 <= found.bitrate_kbps <= 100_000


def test_bitrate_above_100000_kbps_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "fast.wav"
    path.write_bytes(wav_bytes(rate=48_000, channels=255, block_align=510, data=bytes(510 * 4_800)))
    found = read_tags(path)
    assert (found.channels, found.bitrate_kbps) == (255, None)  # 255 x 16 bit x 48 kHz = 195,840 kbit/s


def test_duration_over_a_week_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(rate=1, channels=1, block_align=1, data=bytes(7 * 24 * 3600 + 1)))
    assert rejection(path) == "corrupt"
    path.write_bytes(wav_bytes(rate=1, channels=1, block_align=1, data=bytes(7 * 24 * 3600)))
    assert read_tags(path).duration_secs == 7 * 24 * 3600


@pytest.mark.parametrize("length", [float("nan"), float("inf")])
def test_non_finite_duration_is_corrupt(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, length: float
) -> None:
    path = make(factory, tmp_path, "wav")
    wave = tags_module._MUTAGEN_TYPES["wav"]

    def with_length(fileobj: object) -> object:
        audio = wave(fileobj)
        audio.info.length = length
        return audio

    monkeypatch.setitem(tags_module._MUTAGEN_TYPES, "wav", with_length)
    assert rejection(path) == "corrupt"


def test_text_drops_what_postgres_text_cannot_hold(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some decoders leave lone or split surrogates in strings; UTF-8 (and so PostgreSQL) cannot encode them.
    tags = ID3()
    tags.add(TIT2(encoding=3, text=["a\ud83d\ude00b\udc80c\x00"]))  # a split pair, a lone one, a NUL
    tags.add(TPE1(encoding=3, text=["\ud800Artist"]))
    tags.add(TALB(encoding=3, text=["\udfff"]))
    monkeypatch.setattr(tags_module, "_load_id3", lambda fileobj: tags)
    found = read_tags(make(factory, tmp_path, "aac", TrackSpec()))
    assert (found.title, found.artist, found.album) == ("a\U0001f600bc", "Artist", None)
    for text in (found.title, found.artist, found.album_artist, found.genre):
        assert text is None or text.encode("utf-8")


# -- metadata size ------------------------------------------------------------------------------

BIG_COVER = b"\x89PNG\r\n\x1a\n" + random.Random(9).randbytes(300_000)


def metadata_rejection(path: Path) -> str:
    with pytest.raises(AudioRejected) as info:
        read_tags(path)
    assert info.value.code == "corrupt"
    return info.value.reason


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_metadata_over_the_limit_is_rejected(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    path = make(factory, tmp_path, fmt, TrackSpec(cover=BIG_COVER))
    monkeypatch.setattr(tags_module, "MAX_METADATA_BYTES", 250_000)
    assert metadata_rejection(path) == "The file's metadata is larger than 250,000 bytes."
    monkeypatch.setattr(tags_module, "MAX_METADATA_BYTES", 500_000)  # base64 in Ogg comments: x 4/3
    assert read_tags(path).cover == CoverArt(BIG_COVER, "image/png")


@pytest.mark.parametrize("fmt", ["flac", "ogg", "opus"])
def test_metadata_under_the_limit_is_counted_once(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    path = make(factory, tmp_path, fmt, TrackSpec(cover=BIG_COVER))
    audio = FLAC(path) if fmt == "flac" else OggVorbis(path) if fmt == "ogg" else OggOpus(path)
    audio.tags["COMMENT"] = ["after the picture"]  # more to walk past the picture
    audio.save()
    monkeypatch.setattr(tags_module, "MAX_METADATA_BYTES", 500_000)  # under twice the picture's size
    assert read_tags(path).cover == CoverArt(BIG_COVER, "image/png")


def test_big_flac_padding_counts_as_metadata(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks, audio = flac_blocks(make(factory, tmp_path, "flac").read_bytes())
    path = tmp_path / "padded.flac"
    path.write_bytes(flac_file([*blocks, (1, bytes(300_000))], audio))
    monkeypatch.setattr(tags_module, "MAX_METADATA_BYTES", 250_000)
    assert "metadata" in metadata_rejection(path)


def test_flac_picture_is_measured_by_its_own_length_fields(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mutagen reads a picture block by the lengths inside it, not the block's length: one
    # declaring a few bytes can make it read the rest of the file as image data.
    blocks, audio = flac_blocks(make(factory, tmp_path, "flac", TrackSpec(duration=3.0)).read_bytes())
    mime = b"image/png"
    picture = struct.pack(">II", 3, len(mime)) + mime + struct.pack(">I4II", 0, 1, 1, 24, 0, len(audio) - 100)
    path = tmp_path / "picture.flac"
    path.write_bytes(flac_file([*blocks, (6, picture)], audio))
    monkeypatch.setattr(tags_module, "MAX_METADATA_BYTES", len(audio) // 2)
    assert "metadata" in metadata_rejection(path)


def test_bounded_reads_catch_what_the_metadata_check_misses(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(factory, tmp_path, "flac", TrackSpec(cover=BIG_COVER))
    monkeypatch.setattr(tags_module, "check_metadata", lambda fileobj, fmt, limit: None)
    monkeypatch.setattr(tags_module, "MAX_METADATA_BYTES", 100_000)
    monkeypatch.setattr(tags_module, "_READ_SLACK", 50_000)
    assert "metadata" in metadata_rejection(path)


@pytest.mark.parametrize("fmt", ["flac", "ogg", "opus"])
def test_too_many_vorbis_comments_are_corrupt(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = make(factory, tmp_path, fmt, TrackSpec())
    audio = FLAC(path) if fmt == "flac" else OggVorbis(path) if fmt == "ogg" else OggOpus(path)
    audio.tags["COMMENT"] = [str(index) for index in range(10_001)]
    audio.save()
    assert "10,000 comments" in metadata_rejection(path)
    audio.tags["COMMENT"] = [str(index) for index in range(5_000)]
    audio.save()
    assert read_tags(path).title == "Test Tone"


def syncsafe(value: int) -> bytes:
    return bytes((value >> shift) & 0x7F for shift in (21, 14, 7, 0))


def id3_frame(name: bytes, body: bytes, flags: int = 0) -> bytes:
    """An ID3v2.4 frame."""
    return name + syncsafe(len(body)) + flags.to_bytes(2, "big") + body


def compressed_frame(name: bytes, content: bytes) -> bytes:
    """An ID3v2.4 frame stored zlib-compressed, with its data-length field."""
    return id3_frame(name, syncsafe(len(content)) + zlib.compress(content, 9), flags=0x0009)


def chapter(element: bytes, frames: bytes) -> bytes:
    return id3_frame(b"CHAP", element + b"\x00" + bytes(16) + frames)


def mp3_with_tag(factory: AudioFactory, tmp_path: Path, frames: bytes) -> Path:
    """An MP3 whose ID3v2.4 tag holds exactly `frames`."""
    path = make(factory, tmp_path, "mp3", TrackSpec())
    data = path.read_bytes()
    path.write_bytes(b"ID3\x04\x00\x00" + syncsafe(len(frames)) + frames + data[id3v2_end(data[:10]) :])
    return path


def test_compressed_id3_frames_are_still_read(factory: AudioFactory, tmp_path: Path) -> None:
    path = mp3_with_tag(factory, tmp_path, compressed_frame(b"TIT2", b"\x03Packed title"))
    assert read_tags(path).title == "Packed title"


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "in-chapter"])
def test_id3_frames_inflating_past_the_limit_are_rejected(factory: AudioFactory, tmp_path: Path, nested: bool) -> None:
    # 40 MiB of zeros compress to 40 KiB; mutagen would inflate all of it.
    bomb = compressed_frame(b"PRIV", b"owner\x00" + bytes(40 << 20))
    frames = chapter(b"ch0", id3_frame(b"TIT2", b"\x03One") + bomb) if nested else bomb
    path = mp3_with_tag(factory, tmp_path, id3_frame(b"TIT2", b"\x03Bomb") + frames)
    assert path.stat().st_size < 200_000
    assert "metadata" in metadata_rejection(path)


def test_chapters_nested_in_chapters_are_corrupt(factory: AudioFactory, tmp_path: Path) -> None:
    title = id3_frame(b"TIT2", b"\x03Part")
    path = mp3_with_tag(factory, tmp_path, chapter(b"a", chapter(b"b", title)))
    assert read_tags(path).format == "mp3"
    path = mp3_with_tag(factory, tmp_path, chapter(b"a", chapter(b"b", chapter(b"c", title))))
    assert "nested too deeply" in metadata_rejection(path)


def test_too_many_id3_frames_are_corrupt(factory: AudioFactory, tmp_path: Path) -> None:
    frames = b"".join(id3_frame(b"TXXX", b"\x03%d\x00v" % index) for index in range(10_001))
    assert "10,000 frames" in metadata_rejection(mp3_with_tag(factory, tmp_path, frames))


def test_many_id3_frames_ahead_of_a_large_one_are_corrupt(factory: AudioFactory, tmp_path: Path) -> None:
    # mutagen re-slices the rest of the tag after every frame: 9000 frames ahead of 300 KB copy 2.7 GB.
    small = b"".join(id3_frame(b"TXXX", b"\x03%d\x00v" % index) for index in range(9_000))
    large = id3_frame(b"PRIV", b"owner\x00" + bytes(300_000))
    path = mp3_with_tag(factory, tmp_path, small + large)
    assert "frames ahead of large ones" in metadata_rejection(path)
    path = mp3_with_tag(factory, tmp_path, large + small)
    assert read_tags(path).format == "mp3"


def test_too_many_mp4_atoms_are_corrupt(factory: AudioFactory, tmp_path: Path) -> None:
    data = make(factory, tmp_path, "m4a").read_bytes()
    pos = 0
    while data[pos + 4 : pos + 8] != b"moov":
        pos += int.from_bytes(data[pos : pos + 4], "big")
    size = int.from_bytes(data[pos : pos + 4], "big")
    frees = struct.pack(">I4s", 8, b"free") * 100_001  # each one an object in mutagen
    moov = struct.pack(">I", size + len(frees)) + data[pos + 4 : pos + size] + frees
    path = tmp_path / "atoms.m4a"
    path.write_bytes(data[:pos] + moov + data[pos + size :])
    assert "too many atoms" in metadata_rejection(path)
