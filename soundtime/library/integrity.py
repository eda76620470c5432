"""Cheap structural checks that an audio file is complete rather than cut short.

Each check reads only container headers and the file's tail (a few KiB), never the
whole audio payload, and decodes nothing: it is meant to run on every import.
"""

from __future__ import annotations

import array
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO, Literal

__all__ = [
    "IncompleteAudio",
    "MpegFrame",
    "adts_frame",
    "check_complete",
    "check_stream",
    "find_frame_run",
    "id3v2_end",
    "mpeg_frame",
]


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


# -- ID3v2 / trailing tags ----------------------------------------------------------------------


def id3v2_end(head: bytes) -> int:
    """Length of the ID3v2 tag `head` starts with (0 if none); `head` needs 10 bytes."""
    if len(head) < 10 or not head.startswith(b"ID3") or head[3] == 0xFF or any(b & 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _skip_id3v2(reader: _Reader, pos: int = 0) -> int:
    """Offset after any ID3v2 tags at `pos` (some files carry several in a row)."""
    while (length := id3v2_end(reader.read_at(pos, 10))) > 0:
        pos += length
    if pos > reader.size:
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
    end = reader.size
    while end > start and (length := _tag_before(reader, end)) > 0:
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
    pos = data.find(b"\xff")
    while pos >= 0:
        end, frames = pos, 0
        while (frame := parse(data[end : end + 9])) is not None and frame.signature == signature:
            end += frame.length
            frames += 1
            if end >= len(data):
                break
        enough = frames >= 2 or (frames == 1 and from_start and pos == 0)
        if enough and end <= len(data) and not data[end:].strip(b"\x00"):
            return True
        pos = data.find(b"\xff", pos + 1)
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


def _crc16_is_zero(data: bytes) -> bool:
    """Whether FLAC's CRC-16 over `data` (a frame including its own trailing CRC) is zero."""
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
    return crc == 0


_FLAC_SYNC = re.compile(b"\xff[\xf8\xf9]")
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


def _flac_metadata(reader: _Reader) -> tuple[_StreamInfo, int]:
    """Walk the metadata blocks; return the stream info and where the audio frames start."""
    pos = _skip_id3v2(reader)
    if reader.read_at(pos, 4) != b"fLaC":
        raise _corrupt("the FLAC signature is missing")
    pos += 4
    info: _StreamInfo | None = None
    last = False
    while not last:
        head = reader.read_at(pos, 4)
        if len(head) < 4:
            raise _truncated("the FLAC metadata is cut short")
        last, kind, length = bool(head[0] & 0x80), head[0] & 0x7F, int.from_bytes(head[1:4], "big")
        if kind == 0:
            if length != 34:
                raise _corrupt("the FLAC stream info block is malformed")
            info = _parse_streaminfo(reader.read_at(pos + 4, 34))
        elif kind == 127:
            raise _corrupt("the FLAC metadata is malformed")
        pos += 4 + length
        if pos > reader.size:
            raise _truncated("the FLAC metadata is cut short")
    if info is None:
        raise _corrupt("the FLAC stream info block is missing")
    return info, pos


def _parse_streaminfo(block: bytes) -> _StreamInfo:
    packed = int.from_bytes(block[10:18], "big")
    return _StreamInfo(
        max_block=int.from_bytes(block[2:4], "big"),
        channels=((packed >> 41) & 7) + 1,
        bits_per_sample=((packed >> 36) & 31) + 1,
        total_samples=packed & ((1 << 36) - 1),
    )


def _check_flac(reader: _Reader) -> None:
    info, audio_start = _flac_metadata(reader)
    if audio_start >= reader.size:
        raise _truncated("the FLAC file has no audio frames")
    # STREAMINFO's max frame size may be 0 or wrong, so bound the last frame from first principles.
    window_start = max(audio_start, reader.size - info.frame_bound(info.max_block or 65536))
    tail = reader.read_at(window_start, reader.size - window_start)
    # The last frame is the one whose CRC-16 runs exactly to the end of the file.
    for match in reversed(list(_FLAC_SYNC.finditer(tail))):
        pos = match.start()
        header = _flac_frame_header(tail[pos : pos + 16], info)
        if header is None or len(tail) - pos > info.frame_bound(header[1]):
            continue
        if _crc16_is_zero(tail[pos:]):
            first_sample, block = header
            if info.total_samples and first_sample + block < info.total_samples:
                raise _truncated("the FLAC stream ends before its declared length")
            return
    raise _truncated("the last FLAC frame is cut short")


# -- Ogg ----------------------------------------------------------------------------------------

_OGG_MAX_PAGE = 27 + 255 + 255 * 255


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
    if reader.read_at(0, 4) != b"OggS":
        raise _corrupt("the Ogg signature is missing")
    start = max(0, reader.size - _OGG_MAX_PAGE)
    tail = reader.read_at(start, reader.size - start)
    pos = tail.rfind(b"OggS")
    while pos >= 0:
        if _ogg_page_end(tail, pos) == len(tail):
            if tail[pos + 5] & 0x04:
                return
            raise _truncated("the Ogg stream stops without its end-of-stream marker")
        pos = tail.rfind(b"OggS", 0, pos)
    raise _truncated("the last Ogg page is cut short")


# -- MP4 ----------------------------------------------------------------------------------------

_MAX_BOXES = 100_000


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


def _check_chunks(reader: _Reader, layout: _ChunkLayout) -> None:
    head = reader.read_at(0, 12)
    if len(head) < 12 or head[:4] != layout.magic or head[8:12] not in layout.forms:
        raise _corrupt("the container header is malformed")
    container_end = 8 + int.from_bytes(head[4:8], layout.byteorder)
    if reader.size < container_end:
        raise _truncated("it is shorter than its header declares")
    if reader.size > container_end + 1:  # one byte of slack: a pad byte the size omits
        raise _corrupt("it holds data past its declared end")
    pos, count, seen = 12, 0, set[bytes]()
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
        seen.add(kind)
        pos = body_end + (length & 1)
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
