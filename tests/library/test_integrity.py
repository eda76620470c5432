"""check_complete: intact files of every format pass, cut or damaged ones are rejected."""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from mutagen.apev2 import APEv2
from mutagen.id3 import ID3

from soundtime.library import integrity
from soundtime.library.integrity import IncompleteAudio, check_complete, id3v2_end, mpeg_frame
from soundtime.library.tags import AudioRejected, read_tags
from tests.support.audio import EXTENSIONS, FORMATS, AudioFactory, TrackSpec, make_cover_png

ALL_FORMATS = (*FORMATS, "aac")
REJECTED = {"truncated", "corrupt"}
CUTS = {"30%": 0.3, "60%": 0.6, "90%": 0.9, "size-1": None}
RICH = TrackSpec(
    title="Integrity",
    album_artist="Someone",
    track_number=1,
    disc_number=1,
    year=2024,
    genre="Test",
    cover=make_cover_png(11, size=24),
    duration=2.0,
)


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> AudioFactory:
    return AudioFactory(tmp_path_factory.mktemp("audio-cache"))


def assert_rejected(path: Path, fmt: str) -> str:
    """Both the integrity check and read_tags must refuse `path`; returns the code."""
    with pytest.raises(IncompleteAudio) as info:
        check_complete(path, fmt)
    assert info.value.code in REJECTED
    assert info.value.code in info.value.reason  # "The file is truncated (...)." names the problem
    with pytest.raises(AudioRejected) as rejected:
        read_tags(path)
    assert rejected.value.code in REJECTED
    assert rejected.value.code in rejected.value.reason
    return info.value.code


def write_cut(source: Path, target: Path, length: int) -> Path:
    target.write_bytes(source.read_bytes()[:length])
    return target


def cut_length(size: int, fraction: float | None) -> int:
    return size - 1 if fraction is None else int(size * fraction)


# -- file variants ------------------------------------------------------------------------------
# Each builds a valid file exercising a structural corner: tags at either end, junk before
# the first frame, big covers that push the audio far into the file.

Variant = Callable[[AudioFactory, Path], tuple[Path, str]]


def _plain(fmt: str) -> Variant:
    def build(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
        return factory.make(folder / f"plain{EXTENSIONS[fmt]}", fmt, RICH), fmt

    return build


def _mp3_id3v1(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
    path = factory.make(folder / "v1.mp3", "mp3", RICH)
    ID3(path).save(path, v1=2)
    assert path.read_bytes()[-128:].startswith(b"TAG")
    return path, "mp3"


def _add_ape(path: Path) -> None:
    ape = APEv2()
    ape["Title"] = "APE title"
    ape.save(path)


def _mp3_apev2(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
    path = factory.make(folder / "ape.mp3", "mp3", RICH)
    _add_ape(path)
    return path, "mp3"


def _mp3_apev2_and_id3v1(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
    path, _ = _mp3_id3v1(factory, folder)
    _add_ape(path)
    return path, "mp3"


def _mp3_junk_before_audio(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
    path = factory.make(folder / "junk.mp3", "mp3", RICH)
    data = path.read_bytes()
    start = id3v2_end(data[:10])
    path.write_bytes(data[:start] + bytes(300) + data[start:])
    return path, "mp3"


def _mp3_without_info_frame(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
    path = factory.make(folder / "noinfo.mp3", "mp3", RICH)
    data = path.read_bytes()
    start = id3v2_end(data[:10])
    frame = mpeg_frame(data[start : start + 4])
    assert frame is not None
    assert b"Info" in data[start : start + frame.length]
    path.write_bytes(data[:start] + data[start + frame.length :])
    return path, "mp3"


def _big_cover(fmt: str) -> Variant:
    def build(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
        cover = b"\x89PNG\r\n\x1a\n" + random.Random(5).randbytes(200_000)
        spec = TrackSpec(cover=cover, duration=2.0)
        return factory.make(folder / f"cover{EXTENSIONS[fmt]}", fmt, spec), fmt

    return build


def _id3_padding_tag(size: int) -> bytes:
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + bytes(size)


def _flac_with_id3v2(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
    path = factory.make(folder / "id3.flac", "flac", RICH)
    path.write_bytes(_id3_padding_tag(500) + path.read_bytes())
    return path, "flac"


def _aac_id3v1(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
    path = factory.make(folder / "v1.aac", "aac", RICH)
    ID3(path).save(path, v1=2)
    return path, "aac"


def _riff_with_odd_chunk(fmt: str) -> Variant:
    """A WAV/AIFF ending in an odd-sized chunk, so its last byte is the pad byte."""

    def build(factory: AudioFactory, folder: Path) -> tuple[Path, str]:
        path = factory.make(folder / f"odd{EXTENSIONS[fmt]}", fmt, RICH)
        order = "<" if fmt == "wav" else ">"
        data = bytearray(path.read_bytes())
        data += b"junk" + struct.pack(f"{order}I", 3) + b"abc\x00"
        data[4:8] = struct.pack(f"{order}I", len(data) - 8)
        path.write_bytes(bytes(data))
        return path, fmt

    return build


VARIANTS: dict[str, Variant] = {
    **{fmt: _plain(fmt) for fmt in ALL_FORMATS},
    "mp3+id3v1": _mp3_id3v1,
    "mp3+apev2": _mp3_apev2,
    "mp3+apev2+id3v1": _mp3_apev2_and_id3v1,
    "mp3+junk": _mp3_junk_before_audio,
    "mp3-info": _mp3_without_info_frame,
    "mp3+bigcover": _big_cover("mp3"),
    "flac+bigcover": _big_cover("flac"),
    "flac+id3v2": _flac_with_id3v2,
    "m4a+bigcover": _big_cover("m4a"),
    "opus+bigcover": _big_cover("opus"),
    "aac+id3v1": _aac_id3v1,
    "wav+oddchunk": _riff_with_odd_chunk("wav"),
    "aiff+oddchunk": _riff_with_odd_chunk("aiff"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_intact_file_passes(factory: AudioFactory, tmp_path: Path, variant: str) -> None:
    path, fmt = VARIANTS[variant](factory, tmp_path)
    check_complete(path, fmt)
    assert read_tags(path).format == fmt


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_truncated_file_is_rejected(factory: AudioFactory, tmp_path: Path, variant: str, cut: str) -> None:
    path, fmt = VARIANTS[variant](factory, tmp_path)
    cut_path = write_cut(path, tmp_path / f"cut{EXTENSIONS[fmt]}", cut_length(path.stat().st_size, CUTS[cut]))
    assert_rejected(cut_path, fmt)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_cuts_anywhere_are_rejected(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = factory.make(tmp_path / f"whole{EXTENSIONS[fmt]}", fmt, RICH)
    size = path.stat().st_size
    target = tmp_path / f"cut{EXTENSIONS[fmt]}"
    for length in random.Random(fmt).sample(range(1, size), 40):
        write_cut(path, target, length)
        with pytest.raises(IncompleteAudio):
            check_complete(target, fmt)


# -- valid files of many shapes ---------------------------------------------------------------

SHAPES = [
    (8000, 1, 0.3),
    (11025, 2, 0.05),
    (22050, 1, 1.5),
    (32000, 2, 0.7),
    (48000, 2, 3.0),
    (44100, 1, 0.01),
]


def _encodable(fmt: str, shape: tuple[int, int, float]) -> bool:
    """FFmpeg's native Vorbis encoder only makes stereo; mutagen's ADTS reader needs three frames (~0.1 s)."""
    _, channels, duration = shape
    return not (fmt == "ogg" and channels != 2) and not (fmt == "aac" and duration < 0.1)


@pytest.mark.parametrize(
    ("fmt", "shape"),
    [(fmt, shape) for fmt in ALL_FORMATS for shape in SHAPES if _encodable(fmt, shape)],
    ids=lambda value: "-".join(map(str, value)) if isinstance(value, tuple) else value,
)
def test_valid_files_of_many_shapes_pass(
    factory: AudioFactory, tmp_path: Path, fmt: str, shape: tuple[int, int, float]
) -> None:
    rate, channels, duration = shape
    spec = TrackSpec(sample_rate=rate, channels=channels, duration=duration, frequency=rate / 7)
    path = factory.make(tmp_path / f"shape{EXTENSIONS[fmt]}", fmt, spec)
    check_complete(path, fmt)
    assert read_tags(path).channels == channels


# -- cuts on exact frame/page boundaries --------------------------------------------------------


def _mpeg_frame_starts(data: bytes) -> list[int]:
    pos = id3v2_end(data[:10])
    starts = []
    while (frame := mpeg_frame(data[pos : pos + 4])) is not None:
        starts.append(pos)
        pos += frame.length
    return starts


def test_mp3_cut_between_frames_is_caught_by_the_info_header(factory: AudioFactory, tmp_path: Path) -> None:
    path = factory.make(tmp_path / "a.mp3", "mp3", RICH)
    starts = _mpeg_frame_starts(path.read_bytes())
    assert len(starts) > 20
    for boundary in (starts[len(starts) // 2], starts[-3]):
        assert assert_rejected(write_cut(path, tmp_path / "cut.mp3", boundary), "mp3") == "truncated"


def test_flac_cut_between_frames_is_caught_by_the_sample_count(factory: AudioFactory, tmp_path: Path) -> None:
    path = factory.make(tmp_path / "a.flac", "flac", RICH)
    data = path.read_bytes()
    syncs = [m.start() for m in re.finditer(b"\xff\xf8", data) if m.start() > 8000]
    assert syncs
    for position in syncs:
        assert_rejected(write_cut(path, tmp_path / "cut.flac", position), "flac")


@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_ogg_cut_between_pages_lacks_end_of_stream(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, RICH)
    pages = [m.start() for m in re.finditer(b"OggS", path.read_bytes())]
    assert len(pages) > 3
    for boundary in pages[1:]:
        cut = write_cut(path, tmp_path / f"cut{EXTENSIONS[fmt]}", boundary)
        assert assert_rejected(cut, fmt) == "truncated"


@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_ogg_without_end_of_stream_flag(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, RICH)
    data = bytearray(path.read_bytes())
    last = data.rfind(b"OggS")
    data[last + 5] &= ~0x04
    path.write_bytes(bytes(data))
    assert assert_rejected(path, fmt) == "truncated"


# -- damaged containers -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "aiff"])
def test_riff_with_trailing_data_is_corrupt(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, RICH)
    path.write_bytes(path.read_bytes() + b"trailing garbage")
    assert assert_rejected(path, fmt) == "corrupt"


@pytest.mark.parametrize("fmt", ["wav", "aiff"])
def test_riff_declaring_more_than_present_is_truncated(factory: AudioFactory, tmp_path: Path, fmt: str) -> None:
    path = factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, RICH)
    data = bytearray(path.read_bytes())
    order = "<" if fmt == "wav" else ">"
    data[4:8] = struct.pack(f"{order}I", len(data))
    path.write_bytes(bytes(data))
    assert assert_rejected(path, fmt) == "truncated"


def _atom(kind: bytes, payload: bytes = b"", *, wide: bool = False) -> bytes:
    if wide:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


FTYP = _atom(b"ftyp", b"M4A \x00\x00\x02\x00M4A isom")


@pytest.mark.parametrize(
    "content",
    [
        FTYP + _atom(b"moov", bytes(40)) + _atom(b"mdat", bytes(100)),
        FTYP + _atom(b"mdat", bytes(100), wide=True) + _atom(b"moov", bytes(40)),
        FTYP + _atom(b"moov", bytes(40)) + struct.pack(">I4s", 0, b"mdat") + bytes(100),
    ],
    ids=["moov-first", "wide-mdat", "open-ended-mdat"],
)
def test_mp4_layouts_that_tile_pass(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "a.m4a"
    path.write_bytes(content)
    check_complete(path, "m4a")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (FTYP + _atom(b"moov", bytes(40)) + _atom(b"mdat", bytes(100)) + b"xyz", "truncated"),
        (FTYP + _atom(b"moov", bytes(40)) + _atom(b"mdat", bytes(100))[:-1], "truncated"),
        (FTYP + _atom(b"mdat", bytes(100)), "corrupt"),
        (FTYP + _atom(b"moov", bytes(40)) + struct.pack(">I4s", 4, b"mdat"), "corrupt"),
    ],
    ids=["trailing-bytes", "short-mdat", "no-moov", "impossible-size"],
)
def test_mp4_layouts_that_do_not_tile_fail(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "a.m4a"
    path.write_bytes(content)
    with pytest.raises(IncompleteAudio) as info:
        check_complete(path, "m4a")
    assert info.value.code == code


def test_unknown_format_is_a_programming_error(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"data")
    with pytest.raises(ValueError, match="no integrity check"):
        check_complete(path, "wma")


def test_flac_crc16_matches_the_reference_vector() -> None:
    # CRC-16/UMTS (FLAC's CRC-16) of "123456789" is 0xFEE8; appending it zeroes the CRC.
    assert integrity._crc16_is_zero(b"123456789\xfe\xe8")
    assert not integrity._crc16_is_zero(b"123456789\xfe\xe9")
    assert integrity._crc16_is_zero(b"\x00123456789\xfe\xe8")
