"""FLAC: metadata blocks, and the last frame found by its CRC-16."""

from __future__ import annotations

import array
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from soundtime.library.integrity.common import (
    _Budget,
    _corrupt,
    _Reader,
    _Stream,
    _truncated,
    _vorbis_comment_length,
)
from soundtime.library.integrity.id3 import _skip_id3v2

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


def _block_header(reader: _Reader, pos: int, count: int) -> tuple[bool, int, int]:
    """(is last, type, declared length) of the ``count``-th metadata block header, at ``pos``."""
    if count > _FLAC_MAX_BLOCKS:
        raise _corrupt("the FLAC metadata has too many blocks")
    head = reader.read_at(pos, 4)
    if len(head) < 4:
        raise _truncated("the FLAC metadata is cut short")
    return bool(head[0] & 0x80), head[0] & 0x7F, int.from_bytes(head[1:4], "big")


def _flac_blocks(reader: _Reader) -> Iterator[tuple[int, int, int]]:
    """(offset, type, declared length) of each FLAC metadata block, in order."""
    pos = _skip_id3v2(reader)
    if reader.read_at(pos, 4) != b"fLaC":
        raise _corrupt("the FLAC signature is missing")
    pos += 4
    last, count = False, 0
    while not last:
        count += 1
        last, kind, length = _block_header(reader, pos, count)
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


# -- metadata bounds ----------------------------------------------------------------------------

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
        last, kind, length = _block_header(reader, pos, count)
        body = pos + 4
        if kind == 4:
            length = _vorbis_comment_length(_Stream(reader, [(body, reader.size - body)]), budget.room)
        elif kind == 6:
            length = _flac_picture_length(reader, body)
        elif kind == 3 and length > 18 * _FLAC_MAX_SEEK_POINTS:
            raise _corrupt("the FLAC seek table is too large")
        budget.take(4 + length)
        pos = body + length
