"""check_complete: intact files of every format pass, cut or damaged ones are rejected."""

from __future__ import annotations

import random
import re
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from mutagen.apev2 import APEv2
from mutagen.id3 import ID3

from soundtime.library import integrity
from soundtime.library.integrity import IncompleteAudio, check_complete, flac, id3v2_end, mpeg, mpeg_frame, ogg
from soundtime.library.tags import AudioRejected, read_tags
from tests.support.audio import (
    EXTENSIONS,
    FORMATS,
    AudioFactory,
    TrackSpec,
    encode_noise,
    flac_blocks,
    flac_file,
    make_cover_png,
)

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
def test_riff_with_data_past_its_declared_end_is_accepted_with_a_defect(
    factory: AudioFactory, tmp_path: Path, fmt: str
) -> None:
    path = factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, RICH)
    path.write_bytes(path.read_bytes() + b"trailing garbage")
    (defect,) = check_complete(path, fmt)
    assert (defect.code, defect.message) == (
        "data_past_end",
        "16 bytes after its declared end are not part of it (ignored)",
    )
    tags = read_tags(path)
    assert tags.duration_secs == pytest.approx(RICH.duration, abs=0.01)
    assert [d.code for d in tags.defects] == ["data_past_end"]


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
    assert flac._crc16(b"123456789\xfe\xe8") == 0
    assert flac._crc16(b"123456789\xfe\xe9") != 0
    assert flac._crc16(b"\x00123456789\xfe\xe8") == 0


def test_crc16_of_a_concatenation_follows_from_its_parts() -> None:
    rng = random.Random(16)
    for _ in range(50):
        head, tail = rng.randbytes(rng.randrange(0, 300)), rng.randbytes(rng.randrange(0, 300))
        combined = flac._crc16_shift(flac._crc16(head), len(tail)) ^ flac._crc16(tail)
        assert combined == flac._crc16(head + tail)
    assert flac._crc16(b"123456789") == 0xFEE8


# -- bounded work on crafted files --------------------------------------------------------------
# Hostile uploads must be decided in bounded time. The guard below only catches hangs; the
# work counts are what pin the bound down.


def finishes(call: Callable[[], object], seconds: float = 10.0) -> None:
    """Run `call` in a daemon thread and fail if it is still running after `seconds` (a hang guard)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds:g} s")
    if errors:
        raise errors[0]


def crafted_flac(size: int) -> bytes:
    """A worst case for the last-frame search, `size` bytes long.

    STREAMINFO allows the largest frames (8 channels, 32-bit samples, 65535-sample blocks),
    then one valid frame header repeats: every 8 bytes a plausible last frame.
    """
    packed = (44100 << 44) | (7 << 41) | (31 << 36)
    info = struct.pack(">HH6x", 4096, 65535) + packed.to_bytes(8, "big") + bytes(16)
    header = bytes([0xFF, 0xF8, 0x70, 0x70, 0x00, 0xFF, 0xFF])
    header += bytes([flac._crc8(header)])
    return b"fLaC\x80" + len(info).to_bytes(3, "big") + info + header * (size // len(header))


def test_flac_made_of_frame_headers_is_decided_quickly(tmp_path: Path) -> None:
    path = tmp_path / "headers.flac"
    path.write_bytes(crafted_flac(2 * 1024 * 1024))
    finishes(lambda: assert_rejected(path, "flac"))


def test_flac_last_frame_search_hashes_each_byte_once(
    factory: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[int] = []
    crc16 = flac._crc16

    def counting(data: bytes) -> int:
        hashed.append(len(data))
        return crc16(data)

    monkeypatch.setattr(flac, "_crc16", counting)
    valid = factory.make(tmp_path / "valid.flac", "flac", RICH)
    check_complete(valid, "flac")
    assert 0 < sum(hashed) <= valid.stat().st_size
    hashed.clear()
    crafted = tmp_path / "crafted.flac"
    crafted.write_bytes(crafted_flac(200_000))
    with pytest.raises(IncompleteAudio):
        check_complete(crafted, "flac")
    assert sum(hashed) <= 200_000


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_flac_of_white_noise_passes_and_its_cuts_fail(tmp_path: Path, channels: int) -> None:
    # Noise makes the largest frames, with the most false frame-sync codes in them.
    path = tmp_path / "noise.flac"
    encode_noise(path, "flac", "flac", seconds=2.0, channels=channels, seed=channels)
    check_complete(path, "flac")
    assert read_tags(path).channels == channels
    size = path.stat().st_size
    for length in random.Random(channels).sample(range(size // 2, size), 15):
        with pytest.raises(IncompleteAudio):
            check_complete(write_cut(path, tmp_path / "cut.flac", length), "flac")


def count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Replace mpeg.`name` (a frame parser) by a wrapper counting its calls; returns the counter."""
    calls = [0]
    parse: Callable[[bytes], integrity.MpegFrame | None] = getattr(mpeg, name)

    def wrapper(header: bytes) -> integrity.MpegFrame | None:
        calls[0] += 1
        return parse(header)

    monkeypatch.setattr(mpeg, name, wrapper)
    return calls


@pytest.mark.parametrize(
    ("fmt", "parser", "frame"),
    [
        ("aac", "adts_frame", bytes([0xFF, 0xF1, 0x50, 0x80, 0x00, 0xFF, 0xFC])),  # 7-byte ADTS frames
        ("mp3", "mpeg_frame", bytes([0xFF, 0xF3, 0x14, 0xC4]) + bytes(20)),  # 24-byte MPEG-2 Layer III frames
    ],
)
def test_tiny_frames_with_a_cut_last_one_take_linear_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, parser: str, frame: bytes
) -> None:
    path = tmp_path / f"tiny{EXTENSIONS[fmt]}"
    path.write_bytes(frame * 10_000 + frame[:5])
    calls = count_calls(monkeypatch, parser)
    finishes(lambda: assert_rejected(path, fmt))
    # Each sync byte in the 64 KiB head and the tail window is parsed a bounded number of times.
    assert 0 < calls[0] <= 3 * path.stat().st_size // len(frame) + 64 * 1024  # counted, and linear


def test_many_tags_in_a_row_are_corrupt(factory: AudioFactory, tmp_path: Path) -> None:
    audio = factory.make(tmp_path / "a.mp3", "mp3", RICH).read_bytes()
    path = tmp_path / "stacked.mp3"
    path.write_bytes(_id3_padding_tag(0) * 1000 + audio)
    assert assert_rejected(path, "mp3") == "corrupt"
    path.write_bytes(audio + b"000000LYRICS200" * 1000)  # empty Lyrics3v2 tags, 15 bytes each
    assert assert_rejected(path, "mp3") == "corrupt"


def test_a_few_stacked_id3_tags_pass(factory: AudioFactory, tmp_path: Path) -> None:
    path = factory.make(tmp_path / "a.mp3", "mp3", RICH)
    path.write_bytes(_id3_padding_tag(20) * 3 + path.read_bytes())
    check_complete(path, "mp3")
    assert read_tags(path).format == "mp3"


def test_flac_with_too_many_metadata_blocks_is_corrupt(factory: AudioFactory, tmp_path: Path) -> None:
    blocks, audio = flac_blocks(factory.make(tmp_path / "a.flac", "flac", RICH).read_bytes())
    path = tmp_path / "blocks.flac"
    path.write_bytes(flac_file(blocks + [(1, b"")] * 2000, audio))  # empty padding blocks
    assert assert_rejected(path, "flac") == "corrupt"
    path.write_bytes(flac_file(blocks + [(1, b"")] * 20, audio))
    check_complete(path, "flac")


def ogg_pages(data: bytes) -> list[bytearray]:
    pages, pos = [], 0
    while pos < len(data):
        end = ogg._ogg_page_end(data, pos)
        assert end is not None
        pages.append(bytearray(data[pos:end]))
        pos = end
    return pages


@pytest.mark.parametrize("damage", ["other-serial", "no-granule", "false-signature"])
@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_ogg_last_page_that_tag_readers_cannot_find_fast_is_corrupt(
    factory: AudioFactory, tmp_path: Path, fmt: str, damage: str
) -> None:
    # Tag readers look for the last page by serial number from the last "OggS" near the end, and
    # otherwise read every page of the file: far too slow for a file of millions of tiny pages.
    pages = ogg_pages(factory.make(tmp_path / f"a{EXTENSIONS[fmt]}", fmt, RICH).read_bytes())
    last = pages[-1]
    if damage == "other-serial":
        last[14:18] = bytes(byte ^ 0x55 for byte in last[14:18])
    elif damage == "no-granule":
        last[6:14] = b"\xff" * 8
    else:
        assert len(last) > 27 + last[26] + 8
        body = 27 + last[26]
        last[body : body + 4] = b"OggS"
    path = tmp_path / f"damaged{EXTENSIONS[fmt]}"
    path.write_bytes(b"".join(pages))
    assert assert_rejected(path, fmt) == "corrupt"
