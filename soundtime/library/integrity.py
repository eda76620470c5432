"""Cheap structural checks on untrusted audio files, run on every import.

`check_complete` tells whether a file is complete rather than cut short; `check_metadata`
whether the tags a tag reader (mutagen) would load from it stay small. Both read container
headers and a bounded tail, never the whole audio payload, decode nothing, and do a
bounded amount of work whatever the bytes.
"""

from __future__ import annotations

import array
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO, Literal

__all__ = [
    "IncompleteAudio",
    "MpegFrame",
    "adts_frame",
    "check_complete",
    "check_metadata",
    "check_stream",
    "find_frame_run",
    "id3v2_end",
    "leading_tags_end",
    "mpeg_frame",
    "too_much_metadata",
]

# Caps on what one file may make the checks (or a tag reader) walk through.
_MAX_BOXES = 100_000  # MP4 atoms or RIFF/IFF chunks
_MAX_STACKED_TAGS = 16  # ID3v2 tags in a row at the start, or tags appended at the end
_MAX_TAG_ENTRIES = 10_000  # ID3 frames (nested ones included) or Vorbis comments in one tag


class IncompleteAudio(Exception):
    """The file's structure shows it is cut short ("truncated") or damaged ("corrupt")."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _truncated(detail: str) -> IncompleteAudio:
    return IncompleteAudio("truncated", f"The file is truncated ({detail}).")


def _corrupt(detail: str) -> IncompleteAudio:
    return IncompleteAudio("corrupt", f"The file is corrupt ({detail}).")


def too_much_metadata(limit: int) -> IncompleteAudio:
    """The rejection of a file whose tags and other metadata exceed `limit` bytes."""
    size = f"{limit >> 20} MiB" if limit >= 1 << 20 and not limit % (1 << 20) else f"{limit:,} bytes"
    return IncompleteAudio("corrupt", f"The file's metadata is larger than {size}.")


class _Reader:
    """Positional reads on a binary file of known size."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._file = fileobj
        self.size = os.fstat(fileobj.fileno()).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset` (fewer at the end of the file)."""
        if length <= 0 or offset >= self.size:
            return b""
        self._file.seek(offset)
        return self._file.read(length)


# -- public entry points ------------------------------------------------------------------------


def check_complete(path: Path, fmt: str) -> None:
    """Raise IncompleteAudio unless the `fmt` file at `path` looks structurally complete."""
    with path.open("rb") as fileobj:
        check_stream(fileobj, fmt)


def check_stream(fileobj: BinaryIO, fmt: str) -> None:
    """Like check_complete, on an open binary file (its position is not preserved)."""
    checker = _CHECKERS.get(fmt)
    if checker is None:
        raise ValueError(f"no integrity check for format {fmt!r}")
    checker(_Reader(fileobj))


def check_metadata(fileobj: BinaryIO, fmt: str, limit: int) -> None:
    """Raise IncompleteAudio("corrupt") if reading the tags of this complete `fmt` file would load too much.

    That is more than `limit` bytes of tags, pictures and other metadata (compressed ID3
    frames count inflated), or more frames, comments, atoms or blocks than a tag reader
    handles cheaply. Only headers are read, plus ID3 tags once known to fit in `limit`.
    """
    measure = _MEASURES.get(fmt)
    if measure is None:
        raise ValueError(f"no metadata check for format {fmt!r}")
    measure(_Reader(fileobj), _Budget(limit))


def leading_tags_end(fileobj: BinaryIO) -> int:
    """Offset after the ID3v2 tags the file starts with (0 if none; may lie past its end)."""
    return _skip_id3v2(_Reader(fileobj), allow_overrun=True)


# -- ID3v2 / trailing tags ----------------------------------------------------------------------


def id3v2_end(head: bytes) -> int:
    """Length of the ID3v2 tag `head` starts with (0 if none); `head` needs 10 bytes."""
    if len(head) < 10 or not head.startswith(b"ID3") or head[3] == 0xFF or any(b & 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _leading_tags(reader: _Reader) -> Iterator[int]:
    """Offsets of the ID3v2 tags at the start of the file (some files carry several in a row)."""
    pos, count = 0, 0
    while (length := id3v2_end(reader.read_at(pos, 10))) > 0:
        count += 1
        if count > _MAX_STACKED_TAGS:
            raise _corrupt("too many tags precede its audio")
        yield pos
        pos += length


def _skip_id3v2(reader: _Reader, *, allow_overrun: bool = False) -> int:
    """Offset after the ID3v2 tags at the start of the file."""
    pos = 0
    for start in _leading_tags(reader):
        pos = start + id3v2_end(reader.read_at(start, 10))
    if pos > reader.size and not allow_overrun:
        raise _truncated("the tag at its start runs past its end")
    return pos


def _tag_before(reader: _Reader, end: int) -> int:
    """Size of an ID3v1, APEv2, Lyrics3v2 or appended ID3v2 tag ending at `end` (0 if none)."""
    tail = reader.read_at(max(0, end - 128), min(end, 128))
    if len(tail) == 128 and tail.startswith(b"TAG"):
        return 128
    if tail[-32:-24] == b"APETAGEX":
        footer = tail[-32:]
        size = int.from_bytes(footer[12:16], "little")
        has_header = footer[23] & 0x80
        return size + (32 if has_header else 0)
    if tail[-9:] == b"LYRICS200" and tail[-15:-9].isdigit():
        return int(tail[-15:-9]) + 15
    if tail[-10:-7] == b"3DI":
        return id3v2_end(b"ID3" + tail[-7:])  # the footer flag makes this count header+body+footer
    return 0


def _strip_trailing_tags(reader: _Reader, start: int) -> int:
    """End offset of the audio data once tags appended at the end are removed."""
    end, count = reader.size, 0
    while end > start and (length := _tag_before(reader, end)) > 0:
        count += 1
        if count > _MAX_STACKED_TAGS:
            raise _corrupt("too many tags follow its audio")
        if length > end - start:
            raise _corrupt("a tag at its end claims more bytes than it holds")
        end -= length
    return end


# -- framed streams (MPEG audio, ADTS) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MpegFrame:
    """A parsed frame header: its total length and the stream traits that must stay constant."""

    length: int
    signature: int
    layer: int


_MPEG_RATES = (44100, 48000, 32000)
# (version is MPEG-1, layer) -> kbps by bitrate index; MPEG-2/2.5 share tables.
_MPEG_KBPS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Tail windows for the last-frame check: several maximal frames (Layer III: 1441 bytes, ADTS: 8191).
_MP3_TAIL = 12 * 1441
_ADTS_TAIL = 3 * 8191


def mpeg_frame(header: bytes) -> MpegFrame | None:
    """Parse a 4-byte MPEG audio frame header (any layer; free-format bitrate unsupported)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 3  # 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    layer = 4 - ((header[1] >> 1) & 3)  # bits 00 are reserved -> 4
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3 or header[3] & 3 == 2:
        return None
    mpeg1 = version == 3
    bitrate = _MPEG_KBPS[mpeg1, layer][bitrate_index] * 1000
    rate = _MPEG_RATES[rate_index] >> (0 if mpeg1 else 1 if version == 2 else 2)
    padding = (header[2] >> 1) & 1
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
    elif layer == 3 and not mpeg1:
        length = 72 * bitrate // rate + padding
    else:
        length = 144 * bitrate // rate + padding
    mono = (header[3] >> 6) == 3
    signature = (header[1] & 0xFE) << 16 | (header[2] & 0x0C) << 8 | mono
    return MpegFrame(length, signature, layer)


def adts_frame(header: bytes) -> MpegFrame | None:
    """Parse a 7-byte ADTS (raw AAC) frame header; `layer` is reported as 0."""
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0 or (header[2] >> 2) & 0x0F > 12:
        return None
    length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
    header_length = 7 if header[1] & 1 else 9
    if length < header_length:
        return None
    signature = header[1] << 16 | (header[2] & 0xFD) << 8 | (header[3] & 0xC0)
    return MpegFrame(length, signature, 0)


_FrameParser = Callable[[bytes], MpegFrame | None]


def find_frame_run(data: bytes, parse: _FrameParser, *, limit: int | None = None) -> int:
    """Offset of the first frame in `data` followed by a consistent second frame, or -1.

    A lone frame counts only at offset 0 and when it runs to the end of `data` (a tiny
    file). `limit` bounds where the first frame may start.
    """
    stop = len(data) if limit is None else min(limit, len(data))
    pos = data.find(b"\xff", 0, stop)
    while pos >= 0:
        first = parse(data[pos : pos + 9])
        if first is not None:
            following = pos + first.length
            if following >= len(data) and pos == 0:
                return pos
            second = parse(data[following : following + 9])
            if second is not None and second.signature == first.signature:
                return pos
        pos = data.find(b"\xff", pos + 1, stop)
    return -1


def _chain_reaches_end(data: bytes, parse: _FrameParser, signature: int, *, from_start: bool) -> bool:
    """Whether some run of consistent frames in `data` ends exactly at its end (zero padding allowed).

    Runs of a single frame count only when `data` starts at the stream's first frame,
    so a false sync word inside the payload cannot masquerade as the last frame.
    """
    starts = []
    pos = data.find(b"\xff")
    while pos >= 0:
        starts.append(pos)
        pos = data.find(b"\xff", pos + 1)
    # (end, frames) of the run starting at each frame, built back to front: every candidate is
    # parsed once, however many frames (a crafted stream of tiny ones) the window holds.
    runs: dict[int, tuple[int, int]] = {}
    for pos in reversed(starts):
        frame = parse(data[pos : pos + 9])
        if frame is None or frame.signature != signature:
            continue
        following = pos + frame.length
        end, frames = (following, 0) if following >= len(data) else runs.get(following, (following, 0))
        runs[pos] = (end, frames + 1)
    padding_from = len(data.rstrip(b"\x00"))
    for pos, (end, frames) in runs.items():
        enough = frames >= 2 or (frames == 1 and from_start and pos == 0)
        if enough and padding_from <= end <= len(data):
            return True
    return False


def _check_framed(reader: _Reader, parse: _FrameParser, window: int, name: str) -> tuple[int, int, MpegFrame]:
    """Shared MP3/ADTS check; returns (first frame offset, audio end, first frame)."""
    start = _skip_id3v2(reader)
    end = _strip_trailing_tags(reader, start)
    head = reader.read_at(start, min(end - start, 64 * 1024))
    offset = find_frame_run(head, parse)
    if offset < 0:
        raise _corrupt(f"no {name} audio frames were found")
    first_pos = start + offset
    first = parse(head[offset : offset + 9])
    assert first is not None  # find_frame_run only returns parseable positions
    window_start = max(first_pos, end - window)
    tail = reader.read_at(window_start, end - window_start)
    if not _chain_reaches_end(tail, parse, first.signature, from_start=window_start == first_pos):
        raise _truncated(f"the last {name} frame is cut short")
    return first_pos, end, first


def _declared_mpeg_bytes(frame: bytes) -> int:
    """The stream size a Xing/Info or VBRI header in the first frame declares (0 if none)."""
    mpeg1 = frame[1] & 0x18 == 0x18
    mono = (frame[3] >> 6) == 3
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    xing = frame[4 + side_info : 4 + side_info + 16]
    if xing[:4] in (b"Xing", b"Info"):
        flags = int.from_bytes(xing[4:8], "big")
        if flags & 2:
            field = xing[12:16] if flags & 1 else xing[8:12]
            return int.from_bytes(field, "big")
        return 0
    vbri = frame[36:50]
    if vbri[:4] == b"VBRI":
        return int.from_bytes(vbri[10:14], "big")
    return 0


def _check_mp3(reader: _Reader) -> None:
    first_pos, end, first = _check_framed(reader, mpeg_frame, _MP3_TAIL, "MP3")
    if first.layer != 3:
        raise _corrupt("the stream is not MPEG Layer III audio")
    declared = _declared_mpeg_bytes(reader.read_at(first_pos, 64))
    if declared and end - first_pos + 2 * first.length < declared:
        raise _truncated("the MP3 holds fewer bytes than its header declares")


def _check_adts(reader: _Reader) -> None:
    _check_framed(reader, adts_frame, _ADTS_TAIL, "AAC")


# -- FLAC -----------------------------------------------------------------------------------------

_FLAC_MAX_BLOCKS = 1024
# Frame-sync codes, and plausible frame headers among them, examined from the end of the file:
# a real last frame holds a handful of false ones at most; a crafted file may hold millions.
_FLAC_MAX_SYNCS = 4096
_FLAC_MAX_HEADERS = 64


@dataclass(frozen=True, slots=True)
class _StreamInfo:
    max_block: int
    channels: int
    bits_per_sample: int
    total_samples: int

    def frame_bound(self, block: int) -> int:
        """Most bytes a frame of `block` samples can take (verbatim subframes plus headers)."""
        subframe = 2 + (block * (self.bits_per_sample + 1) + 7) // 8
        return 32 + self.channels * subframe


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


_CRC16_POLY = 0x18005  # x^16 + x^15 + x^2 + 1


@cache
def _crc16_words() -> tuple[int, ...]:
    """FLAC's CRC-16 (poly 0x8005) table advanced by a whole big-endian 16-bit word."""
    bytewise = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        bytewise.append(crc)
    words = []
    for high in range(256):
        for low in range(256):
            half = (low << 8) ^ bytewise[high]
            words.append(((half << 8) & 0xFFFF) ^ bytewise[half >> 8])
    return tuple(words)


def _crc16(data: bytes) -> int:
    """FLAC's CRC-16 of `data` (zero initial value, no final xor)."""
    table = _crc16_words()
    crc = 0
    if len(data) & 1:  # a leading zero byte leaves this CRC unchanged, so pad in front
        crc = table[data[0]]
        data = data[1:]
    words = array.array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    for word in words:
        crc = table[crc ^ word]
    return crc


def _crc16_is_zero(data: bytes) -> bool:
    """Whether FLAC's CRC-16 over `data` (a frame including its own trailing CRC) is zero."""
    return _crc16(data) == 0


def _gf2_mulmod(left: int, right: int) -> int:
    """Product of two polynomials over GF(2) modulo the CRC-16 polynomial (both below 2**16)."""
    product = 0
    while right:
        if right & 1:
            product ^= left
        right >>= 1
        left <<= 1
        if left & 0x10000:
            left ^= _CRC16_POLY
    return product


def _crc16_shift(crc: int, count: int) -> int:
    """The CRC-16 of some data given its CRC `crc`, once `count` zero bytes are appended.

    CRC-16 is linear, so crc16(a + b) == _crc16_shift(crc16(a), len(b)) ^ crc16(b).
    """
    factor, power = 1, 0x100  # x**(8 * count), by squaring x**8
    while count:
        if count & 1:
            factor = _gf2_mulmod(factor, power)
        power = _gf2_mulmod(power, power)
        count >>= 1
    return _gf2_mulmod(crc, factor)


_FLAC_FIXED_BLOCKS = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608}


def _flac_block_size(code: int) -> int:
    return _FLAC_FIXED_BLOCKS.get(code) or 256 << (code - 8)


def _utf8_number(header: bytes, pos: int) -> tuple[int, int] | None:
    """Decode FLAC's UTF-8-style coded frame/sample number; returns (value, next offset)."""
    if pos >= len(header):
        return None
    lead = header[pos]
    if lead < 0x80:
        return lead, pos + 1
    ones = 8 - (~lead & 0xFF).bit_length()
    if ones < 2 or ones > 7:
        return None
    value = lead & ((1 << (7 - ones)) - 1)
    tail = header[pos + 1 : pos + ones]
    if len(tail) < ones - 1 or any(byte & 0xC0 != 0x80 for byte in tail):
        return None
    for byte in tail:
        value = (value << 6) | (byte & 0x3F)
    return value, pos + ones


def _flac_frame_header(header: bytes, info: _StreamInfo) -> tuple[int, int] | None:
    """(first sample, block size) if `header` starts with a valid frame header, else None."""
    if len(header) < 6:
        return None
    block_code, rate_code = header[2] >> 4, header[2] & 0x0F
    assignment, sample_size = header[3] >> 4, (header[3] >> 1) & 7
    if block_code == 0 or rate_code == 15 or assignment > 10 or sample_size == 3 or header[3] & 1:
        return None
    if (2 if assignment >= 8 else assignment + 1) != info.channels:
        return None
    coded = _utf8_number(header, 4)
    if coded is None:
        return None
    number, pos = coded
    if block_code in (6, 7):
        width = block_code - 5
        block, pos = int.from_bytes(header[pos : pos + width], "big") + 1, pos + width
    else:
        block = _flac_block_size(block_code)
    pos += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if pos >= len(header) or _crc8(header[:pos]) != header[pos]:
        return None
    first = number if header[1] & 1 else number * info.max_block
    return first, block


def _flac_blocks(reader: _Reader) -> Iterator[tuple[int, int, int]]:
    """(offset, type, declared length) of each FLAC metadata block, in order."""
    pos = _skip_id3v2(reader)
    if reader.read_at(pos, 4) != b"fLaC":
        raise _corrupt("the FLAC signature is missing")
    pos += 4
    last, count = False, 0
    while not last:
        count += 1
        if count > _FLAC_MAX_BLOCKS:
            raise _corrupt("the FLAC metadata has too many blocks")
        head = reader.read_at(pos, 4)
        if len(head) < 4:
            raise _truncated("the FLAC metadata is cut short")
        last, kind, length = bool(head[0] & 0x80), head[0] & 0x7F, int.from_bytes(head[1:4], "big")
        if kind == 127:
            raise _corrupt("the FLAC metadata is malformed")
        yield pos, kind, length
        pos += 4 + length


def _flac_metadata(reader: _Reader) -> tuple[_StreamInfo, int]:
    """Walk the metadata blocks; return the stream info and where the audio frames start."""
    info: _StreamInfo | None = None
    audio_start = 0
    for pos, kind, length in _flac_blocks(reader):
        if kind == 0:
            if length != 34:
                raise _corrupt("the FLAC stream info block is malformed")
            info = _parse_streaminfo(reader.read_at(pos + 4, 34))
        audio_start = pos + 4 + length
        if audio_start > reader.size:
            raise _truncated("the FLAC metadata is cut short")
    if info is None:
        raise _corrupt("the FLAC stream info block is missing")
    return info, audio_start


def _parse_streaminfo(block: bytes) -> _StreamInfo:
    packed = int.from_bytes(block[10:18], "big")
    return _StreamInfo(
        max_block=int.from_bytes(block[2:4], "big"),
        channels=((packed >> 41) & 7) + 1,
        bits_per_sample=((packed >> 36) & 31) + 1,
        total_samples=packed & ((1 << 36) - 1),
    )


def _flac_syncs_from_end(data: bytes) -> Iterator[int]:
    """Offsets of FLAC frame-sync codes (0xFFF8, 0xFFF9) in `data`, last first."""
    fixed, variable = data.rfind(b"\xff\xf8"), data.rfind(b"\xff\xf9")
    while fixed >= 0 or variable >= 0:
        if fixed > variable:
            yield fixed
            fixed = data.rfind(b"\xff\xf8", 0, fixed)
        else:
            yield variable
            variable = data.rfind(b"\xff\xf9", 0, variable)


def _check_flac(reader: _Reader) -> None:
    info, audio_start = _flac_metadata(reader)
    if audio_start >= reader.size:
        raise _truncated("the FLAC file has no audio frames")
    # STREAMINFO's max frame size may be 0 or wrong, so bound the last frame from first principles.
    window_start = max(audio_start, reader.size - info.frame_bound(info.max_block or 65536))
    tail = reader.read_at(window_start, reader.size - window_start)
    # The last frame is the one whose CRC-16 runs exactly to the end of the file. Walking the
    # candidates back from the end, each suffix's CRC follows from the previous one and the
    # bytes in between (CRC-16 is linear), so every byte is hashed once.
    suffix_crc, suffix_start, headers = 0, len(tail), 0
    for syncs, pos in enumerate(_flac_syncs_from_end(tail), start=1):
        if syncs > _FLAC_MAX_SYNCS or headers >= _FLAC_MAX_HEADERS:
            raise _corrupt("the end of its FLAC stream cannot be found among too many false frame headers")
        header = _flac_frame_header(tail[pos : pos + 16], info)
        if header is None or len(tail) - pos > info.frame_bound(header[1]):
            continue
        headers += 1
        suffix_crc ^= _crc16_shift(_crc16(tail[pos:suffix_start]), len(tail) - suffix_start)
        suffix_start = pos
        if suffix_crc == 0:
            first_sample, block = header
            if info.total_samples and first_sample + block < info.total_samples:
                raise _truncated("the FLAC stream ends before its declared length")
            return
    raise _truncated("the last FLAC frame is cut short")


# -- Ogg ----------------------------------------------------------------------------------------

_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_OGG_LAST_PAGE_PROBE = 1 << 16  # how far from the end mutagen looks for the last page's "OggS"
_OGG_NO_GRANULE = (1 << 64) - 1  # a page on which no packet ends


def _ogg_page_end(data: bytes, pos: int) -> int | None:
    """End offset of the Ogg page at `pos` per its segment table, or None if unreadable."""
    if len(data) < pos + 27 or data[pos + 4] != 0:
        return None
    count = data[pos + 26]
    table = data[pos + 27 : pos + 27 + count]
    if len(table) < count:
        return None
    return pos + 27 + count + sum(table)


def _check_ogg(reader: _Reader) -> None:
    first = reader.read_at(0, 27)
    if first[:4] != b"OggS":
        raise _corrupt("the Ogg signature is missing")
    start = max(0, reader.size - _OGG_LAST_PAGE_PROBE)
    tail = reader.read_at(start, reader.size - start)
    pos = tail.rfind(b"OggS", max(0, len(tail) - _OGG_MAX_PAGE))
    while pos >= 0:
        if _ogg_page_end(tail, pos) == len(tail):
            break
        pos = tail.rfind(b"OggS", max(0, len(tail) - _OGG_MAX_PAGE), pos)
    else:
        raise _truncated("the last Ogg page is cut short")
    if not tail[pos + 5] & 0x04:
        raise _truncated("the Ogg stream stops without its end-of-stream marker")
    # Tag readers find the stream's length on this page, by its serial number and from the
    # last "OggS" near the end; anything else makes them read every page of the file.
    if tail[pos + 14 : pos + 18] != first[14:18]:
        raise _corrupt("its last Ogg page belongs to another stream")
    if int.from_bytes(tail[pos + 6 : pos + 14], "little") == _OGG_NO_GRANULE:
        raise _corrupt("its last Ogg page ends no packet")
    if tail.rfind(b"OggS") != pos:
        raise _corrupt("its last Ogg page holds a false page signature")


# -- MP4 ----------------------------------------------------------------------------------------


def _box_name(kind: bytes) -> str:
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in kind)


def _check_mp4(reader: _Reader) -> None:
    pos, count, names = 0, 0, set[bytes]()
    while pos < reader.size:
        count += 1
        if count > _MAX_BOXES:
            raise _corrupt("the MP4 file has too many top-level atoms")
        head = reader.read_at(pos, 16)
        size, kind, header = int.from_bytes(head[:4], "big"), head[4:8], 8
        if size == 1:
            size, header = int.from_bytes(head[8:16], "big"), 16
        elif size == 0:
            size = reader.size - pos
        if len(head) < header:
            raise _truncated("the MP4 file ends inside an atom header")
        if size < header:
            raise _corrupt(f"the MP4 atom at byte {pos} has an impossible size")
        if pos + size > reader.size:
            raise _truncated(f"the MP4 '{_box_name(kind)}' atom runs past its end")
        names.add(kind)
        pos += size
    if b"moov" not in names:
        raise _corrupt("the MP4 file has no 'moov' atom")
    if b"mdat" not in names:
        raise _corrupt("the MP4 file has no media data")


# -- RIFF (WAV) and IFF (AIFF) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ChunkLayout:
    magic: bytes
    forms: tuple[bytes, ...]
    byteorder: Literal["little", "big"]
    required: tuple[bytes, ...]


_WAV = _ChunkLayout(b"RIFF", (b"WAVE",), "little", (b"fmt ", b"data"))
_AIFF = _ChunkLayout(b"FORM", (b"AIFF", b"AIFC"), "big", (b"COMM", b"SSND"))


def _chunks(reader: _Reader, layout: _ChunkLayout) -> Iterator[tuple[bytes, int, int]]:
    """(kind, offset, body length) of each top-level chunk, checking that they tile the container."""
    head = reader.read_at(0, 12)
    if len(head) < 12 or head[:4] != layout.magic or head[8:12] not in layout.forms:
        raise _corrupt("the container header is malformed")
    container_end = 8 + int.from_bytes(head[4:8], layout.byteorder)
    if reader.size < container_end:
        raise _truncated("it is shorter than its header declares")
    if reader.size > container_end + 1:  # one byte of slack: a pad byte the size omits
        raise _corrupt("it holds data past its declared end")
    pos, count = 12, 0
    while pos + 8 <= container_end:
        count += 1
        if count > _MAX_BOXES:
            raise _corrupt("it has too many chunks")
        chunk = reader.read_at(pos, 8)
        kind, length = chunk[:4], int.from_bytes(chunk[4:8], layout.byteorder)
        body_end = pos + 8 + length
        if body_end > reader.size:
            raise _truncated(f"the '{_box_name(kind)}' chunk runs past its end")
        if body_end > container_end:
            raise _corrupt(f"the '{_box_name(kind)}' chunk runs past the end of its container")
        yield kind, pos, length
        pos = body_end + (length & 1)


def _check_chunks(reader: _Reader, layout: _ChunkLayout) -> None:
    seen = {kind for kind, _, _ in _chunks(reader, layout)}
    missing = [_box_name(kind) for kind in layout.required if kind not in seen]
    if missing:
        raise _corrupt(f"it has no '{missing[0]}' chunk")


_CHECKERS: dict[str, Callable[[_Reader], None]] = {
    "mp3": _check_mp3,
    "aac": _check_adts,
    "flac": _check_flac,
    "ogg": _check_ogg,
    "opus": _check_ogg,
    "m4a": _check_mp4,
    "wav": lambda reader: _check_chunks(reader, _WAV),
    "aiff": lambda reader: _check_chunks(reader, _AIFF),
}


# -- metadata bounds ------------------------------------------------------------------------------
# Each measure mirrors what mutagen loads for the format, so that what is counted here is what
# it would hold in memory: whole FLAC blocks (pictures and comments by their own length fields,
# as it reads them), ID3 tags, Ogg comment pages, and the MP4 atoms it reads whole.


class _Budget:
    """Bytes of metadata a tag reader may still be asked to load."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def room(self) -> int:
        return self.limit - self.used

    def take(self, amount: int) -> None:
        self.used += amount
        if self.used > self.limit:
            raise too_much_metadata(self.limit)


class _Stream:
    """Sequential reads over file spans, e.g. a FLAC block or an Ogg packet split across pages."""

    def __init__(self, reader: _Reader, spans: list[tuple[int, int]]) -> None:
        self._reader = reader
        self._spans = spans
        self._span = 0
        self._offset = 0
        self.consumed = 0

    def skip(self, length: int) -> None:
        """Advance `length` bytes; IncompleteAudio if the spans run out first."""
        self._advance(length, keep=False)

    def uint32(self, byteorder: Literal["little", "big"]) -> int:
        return int.from_bytes(self._advance(4, keep=True), byteorder)

    def _advance(self, length: int, *, keep: bool) -> bytes:
        parts = []
        self.consumed += length
        while length > 0:
            if self._span >= len(self._spans):
                raise _corrupt("its tags run past their end")
            start, size = self._spans[self._span]
            step = max(0, min(length, size - self._offset))
            if keep:
                parts.append(self._reader.read_at(start + self._offset, step))
            self._offset += step
            length -= step
            if self._offset >= size:
                self._span, self._offset = self._span + 1, 0
        return b"".join(parts)


def _vorbis_comment_length(stream: _Stream, room: int) -> int:
    """Bytes of the Vorbis comment header at the stream's position, walked as mutagen parses it.

    Stops early once past `room` bytes (the caller rejects the file then).
    """
    stream.skip(stream.uint32("little"))  # vendor string
    count = stream.uint32("little")
    if count > _MAX_TAG_ENTRIES:
        raise _corrupt(f"its tags hold more than {_MAX_TAG_ENTRIES:,} comments")
    for _ in range(count):
        if stream.consumed > room:
            break
        stream.skip(stream.uint32("little"))
    return stream.consumed


# -- FLAC metadata

_FLAC_MAX_SEEK_POINTS = 100_000


def _flac_picture_length(reader: _Reader, start: int) -> int:
    """Length of a FLAC picture block's body per its own length fields."""
    stream = _Stream(reader, [(start, reader.size - start)])
    stream.skip(4)  # picture type
    stream.skip(stream.uint32("big"))  # MIME type
    stream.skip(stream.uint32("big"))  # description
    stream.skip(16)  # width, height, depth, colours
    stream.skip(stream.uint32("big"))  # image data
    return stream.consumed


def _measure_flac(reader: _Reader, budget: _Budget) -> None:
    # mutagen parses comment and picture blocks from the stream, ignoring their declared
    # length, and carries on where that parse ends; this walk does the same.
    pos = _skip_id3v2(reader) + 4
    count, last = 0, False
    while not last:
        count += 1
        if count > _FLAC_MAX_BLOCKS:
            raise _corrupt("the FLAC metadata has too many blocks")
        head = reader.read_at(pos, 4)
        if len(head) < 4:
            raise _truncated("the FLAC metadata is cut short")
        last, kind, length = bool(head[0] & 0x80), head[0] & 0x7F, int.from_bytes(head[1:4], "big")
        body = pos + 4
        if kind == 4:
            length = _vorbis_comment_length(_Stream(reader, [(body, reader.size - body)]), budget.room)
        elif kind == 6:
            length = _flac_picture_length(reader, body)
        elif kind == 3 and length > 18 * _FLAC_MAX_SEEK_POINTS:
            raise _corrupt("the FLAC seek table is too large")
        budget.take(4 + length)
        pos = body + length


# -- ID3v2 tags

_ID3_MAX_COPY = 2 << 30  # bytes mutagen copies splitting a tag into frames (it re-slices the rest after each)
_ID3_MAX_DEPTH = 2  # chapter frames nested in chapter frames
_INFLATE_STEP = 1 << 16


@dataclass(frozen=True, slots=True)
class _Id3Tag:
    version: int
    unsync: bool  # the tag-wide unsynchronisation flag
    budget: _Budget


@dataclass(slots=True)
class _Id3Cost:
    """What splitting one ID3 frame list costs mutagen."""

    frames: int = 0
    copied: int = 0
    inflated: int = 0

    def check(self, tag: _Id3Tag, spent: int) -> None:
        """Raise once over a cap; `spent` is what enclosing frame lists inflated already."""
        if self.frames > _MAX_TAG_ENTRIES:
            raise _corrupt(f"its tags hold more than {_MAX_TAG_ENTRIES:,} frames")
        if self.copied > _ID3_MAX_COPY:
            raise _corrupt("its ID3 tag has too many frames ahead of large ones")
        if spent + self.inflated > tag.budget.room:
            raise too_much_metadata(tag.budget.limit)


_INVALID_UNSYNC = re.compile(rb"\xff(?:[\xe0-\xff]|\Z)")


def _id3_unsync(data: bytes) -> bytes:
    """Undo ID3 unsynchronisation as mutagen does (data that was never unsynchronised is kept)."""
    return data if _INVALID_UNSYNC.search(data) else data.replace(b"\xff\x00", b"\xff")


def _syncsafe(value: int) -> int:
    """A 32-bit field read as four 7-bit digits (high bits ignored, as mutagen does)."""
    return sum(((value >> (8 * i)) & 0x7F) << (7 * i) for i in range(4))


def _inflate(data: bytes, room: int, *, keep: bool) -> tuple[bytes | None, int]:
    """What zlib.decompress(data) returns (None on failure or unless `keep`) and how many bytes it makes.

    Stops once more than `room` bytes have come out; the caller rejects the tag then.
    """
    inflater, parts, produced, pending = zlib.decompressobj(), list[bytes](), 0, data
    try:
        while not inflater.eof and produced <= room:
            part = inflater.decompress(pending, _INFLATE_STEP)
            if not part and len(inflater.unconsumed_tail) == len(pending):
                break  # the input ends before the stream does
            pending = inflater.unconsumed_tail
            produced += len(part)
            if keep:
                parts.append(part)
    except zlib.error:
        return None, produced
    if not inflater.eof or not keep:
        return None, produced
    return b"".join(parts), produced


def _id3_frame_content(tag: _Id3Tag, header: bytes, frame: bytes, cost: _Id3Cost, spent: int) -> bytes:
    """A frame's content as mutagen decodes it, inflating into `cost` (b"" if unreadable)."""
    flags = int.from_bytes(header[8:10], "big")
    if tag.version == 4:
        compressed, encrypted = flags & 0x0008, flags & 0x0004
        prefix = frame[:4] if flags & 0x0009 else b""  # a data-length field
        frame = frame[len(prefix) :]
        if flags & 0x0002 or tag.unsync:
            frame = _id3_unsync(frame)
    else:
        compressed, encrypted, prefix = flags & 0x0080, flags & 0x0040, b""
        frame = frame[4:] if compressed else frame
    if encrypted or not compressed:
        return b"" if encrypted else frame
    room = tag.budget.room - spent
    content, produced = _inflate(frame, room - cost.inflated, keep=True)
    cost.inflated += produced
    if content is None and prefix:  # mutagen retries with the data-length field in front
        content, produced = _inflate(prefix + frame, room - cost.inflated, keep=True)
        cost.inflated += produced
    return content or b""


def _id3_subframes(name: bytes, content: bytes) -> bytes:
    """The frame list embedded in a CHAP or CTOC frame's content."""
    element_end = content.find(b"\x00")
    if element_end < 0:
        return b""
    rest = content[element_end + 1 :]
    if name == b"CHAP":
        return rest[16:]  # start and end times and offsets
    count, rest = (rest[1], rest[2:]) if len(rest) >= 2 else (0, b"")  # flags, child element count
    for _ in range(count):
        rest = rest.partition(b"\x00")[2]
    return rest


def _id3_walk(tag: _Id3Tag, data: bytes, *, syncsafe: bool, spent: int, depth: int) -> _Id3Cost:
    """Cost of mutagen's frame splitting over `data` under one reading of frame sizes."""
    cost, pos = _Id3Cost(), 0
    header_length, name_length = (6, 3) if tag.version == 2 else (10, 4)
    while pos + header_length <= len(data):
        header = data[pos : pos + header_length]
        name = header[:name_length]
        if not name.strip(b"\x00"):
            break
        cost.frames += 1
        cost.copied += len(data) - pos
        size = int.from_bytes(header[name_length : name_length + (3 if tag.version == 2 else 4)], "big")
        size = _syncsafe(size) if syncsafe else size
        frame = data[pos + header_length : pos + header_length + size]
        pos += header_length + size
        flags = int.from_bytes(header[8:10], "big") if tag.version > 2 else 0
        compressed = flags & (0x0008 if tag.version == 4 else 0x0080)
        nested = name in (b"CHAP", b"CTOC")
        if tag.version > 2 and frame and (compressed or nested):
            if nested and depth >= _ID3_MAX_DEPTH:
                raise _corrupt("its ID3 chapters are nested too deeply")
            content = _id3_frame_content(tag, header, frame, cost, spent)
            if nested:
                inner = _id3_cost(tag, _id3_subframes(name, content), spent=spent + cost.inflated, depth=depth + 1)
                cost.frames += inner.frames
                cost.copied += inner.copied
                cost.inflated += inner.inflated
        cost.check(tag, spent)
    return cost


def _id3_cost(tag: _Id3Tag, data: bytes, *, spent: int = 0, depth: int = 0) -> _Id3Cost:
    """Worst cost of mutagen reading the frame list `data`, whichever frame-size reading it picks.

    For ID3v2.4 it guesses between syncsafe and plain sizes (iTunes once wrote the latter).
    """
    if tag.version < 4 and tag.unsync:  # tag-wide, undone before splitting (per frame in v2.4)
        data = _id3_unsync(data)
    readings = (True, False) if tag.version == 4 else (False,)
    costs = [_id3_walk(tag, data, syncsafe=syncsafe, spent=spent, depth=depth) for syncsafe in readings]
    return _Id3Cost(
        frames=max(cost.frames for cost in costs),
        copied=max(cost.copied for cost in costs),
        inflated=max(cost.inflated for cost in costs),
    )


def _measure_id3(reader: _Reader, start: int, budget: _Budget) -> None:
    """Count the ID3v2 tag at `start` (if any), and what mutagen would inflate splitting it into frames."""
    head = reader.read_at(start, 10)
    size = id3v2_end(head)
    if not size:
        return
    budget.take(size)
    version, flags = head[3], head[5]
    if version not in (2, 3, 4):
        return
    body = reader.read_at(start + 10, size - 10 - (10 if flags & 0x10 else 0))
    frame_lists = [body]
    if flags & 0x40 and len(body) >= 4:  # an extended header, which mutagen skips unless it looks like a frame
        field = int.from_bytes(body[:4], "big")
        extra = _syncsafe(field) - 4 if version == 4 else field
        frame_lists.append(body[4 + max(0, extra) :])
    tag = _Id3Tag(version, bool(flags & 0x80), budget)
    budget.take(max(_id3_cost(tag, frames).inflated for frames in frame_lists))


def _measure_framed(reader: _Reader, budget: _Budget) -> None:
    for start in _leading_tags(reader):
        _measure_id3(reader, start, budget)


# -- Ogg comment header

_OGG_MAX_HEADER_PAGES = 16_384


def _measure_ogg(reader: _Reader, budget: _Budget, magic_length: int) -> None:
    # mutagen reads the pages after the first one up to the end of the comment packet.
    first = reader.read_at(0, 27 + 255)
    serial = first[14:18]
    pos = _ogg_page_end(first, 0) or len(first)
    spans: list[tuple[int, int]] = []
    packet_done, complete, pages = False, False, 0
    while not complete:
        pages += 1
        if pages > _OGG_MAX_HEADER_PAGES:
            raise _corrupt("its Ogg header packets span too many pages")
        head = reader.read_at(pos, 27)
        if len(head) < 27 or head[:4] != b"OggS" or head[4] != 0:
            raise _corrupt("an Ogg page before its audio is malformed")
        lacing = reader.read_at(pos + 27, head[26])
        if len(lacing) < head[26]:
            raise _truncated("an Ogg page before its audio is cut short")
        body = pos + 27 + len(lacing)
        pos = body + sum(lacing)
        if head[14:18] != serial:
            continue
        budget.take(pos - body + 27 + len(lacing))
        if not packet_done:
            taken = 0
            for value in lacing:
                taken += value
                if value < 255:
                    packet_done = True
                    break
            spans.append((body, taken))
        ends = sum(value < 255 for value in lacing)
        trailing = bool(lacing) and lacing[-1] == 255
        complete = not trailing or ends > 0
    stream = _Stream(reader, spans)  # within the pages counted above
    stream.skip(magic_length)
    _vorbis_comment_length(stream, sys.maxsize)


# -- MP4 atoms

# The atoms mutagen descends into, and the leaves it reads whole (udta holds the tags).
_MP4_CONTAINERS = frozenset({b"moov", b"udta", b"trak", b"mdia", b"meta", b"ilst", b"stbl", b"minf", b"moof", b"traf"})
_MP4_READ_WHOLE = frozenset({b"udta", b"mvhd", b"mdhd", b"hdlr", b"stsd"})
_MP4_MAX_DEPTH = 32


def _mp4_atom(reader: _Reader, pos: int, *, top: bool) -> tuple[bytes, int, int]:
    """(kind, header length, total size) of the atom at `pos`, as mutagen reads it."""
    head = reader.read_at(pos, 16)
    if len(head) < 8:
        raise _truncated("the MP4 file ends inside an atom header")
    size, kind, header = int.from_bytes(head[:4], "big"), head[4:8], 8
    if size == 1:
        if len(head) < 16:
            raise _truncated("the MP4 file ends inside an atom header")
        size, header = int.from_bytes(head[8:16], "big"), 16
    elif size == 0 and top:
        size = reader.size - pos
    if size < header:
        raise _corrupt(f"the MP4 atom at byte {pos} has an impossible size")
    return kind, header, size


def _measure_mp4(reader: _Reader, budget: _Budget) -> None:
    # Every atom in a container becomes an object in mutagen, and so does each value in a tag item.
    atoms = 0
    # Sibling runs still to walk: (start, end, parent kind, depth, whether inside udta).
    pending: list[tuple[int, int, bytes, int, bool]] = [(0, reader.size, b"", 0, False)]
    while pending:
        pos, end, parent, depth, in_udta = pending.pop()
        top = not parent
        while pos + 8 <= end if top else pos < end:
            atoms += 1
            if atoms > _MAX_BOXES:
                raise _corrupt("the MP4 file has too many atoms")
            kind, header, size = _mp4_atom(reader, pos, top=top)
            if kind in _MP4_READ_WHOLE and not in_udta:
                budget.take(size)
            if kind in _MP4_CONTAINERS and parent != b"item":
                inner, child = kind, pos + header + (4 if kind == b"meta" else 0)
            elif parent == b"ilst":  # a tag item, whose values mutagen parses one by one
                inner, child = b"item", pos + header
            else:
                inner, child = b"", 0
            if inner:
                if depth >= _MP4_MAX_DEPTH:
                    raise _corrupt("the MP4 atoms are nested too deeply")
                pending.append((child, pos + size, inner, depth + 1, in_udta or kind == b"udta"))
            pos += size


# -- RIFF/IFF chunks


def _measure_chunks(reader: _Reader, budget: _Budget, layout: _ChunkLayout) -> None:
    # mutagen reads the format chunk whole, and the ID3 tag in an "id3 "/"ID3 " chunk.
    header_chunk = layout.required[0]
    for kind, pos, length in _chunks(reader, layout):
        if kind == header_chunk:
            budget.take(length)
        elif kind.rstrip(b" \x00").upper() == b"ID3":
            _measure_id3(reader, pos + 8, budget)


_MEASURES: dict[str, Callable[[_Reader, _Budget], None]] = {
    "mp3": _measure_framed,
    "aac": _measure_framed,
    "flac": _measure_flac,
    "ogg": lambda reader, budget: _measure_ogg(reader, budget, len(b"\x03vorbis")),
    "opus": lambda reader, budget: _measure_ogg(reader, budget, len(b"OpusTags")),
    "m4a": _measure_mp4,
    "wav": lambda reader, budget: _measure_chunks(reader, budget, _WAV),
    "aiff": lambda reader, budget: _measure_chunks(reader, budget, _AIFF),
}
