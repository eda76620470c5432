"""ID3v2 tags in front of the audio, tags appended after it, and what mutagen loads from ID3v2."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from soundtime.library.integrity.common import (
    _MAX_STACKED_TAGS,
    _MAX_TAG_ENTRIES,
    _Budget,
    _corrupt,
    _Reader,
    _truncated,
    too_much_metadata,
)


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


_LYRICS3V1_MAX = 11 + 5100 + 9  # "LYRICSBEGIN", at most 5100 bytes of lyrics, "LYRICSEND"


def _tag_before(reader: _Reader, end: int) -> int:
    """Size of an ID3v1, APEv2, Lyrics3 (v1 or v2) or appended ID3v2 tag ending at `end` (0 if none)."""
    tail = reader.read_at(max(0, end - 128), min(end, 128))
    if tail.endswith(b"LYRICSEND"):
        block = reader.read_at(max(0, end - _LYRICS3V1_MAX), min(end, _LYRICS3V1_MAX))
        begin = block.rfind(b"LYRICSBEGIN")
        if begin >= 0:
            return len(block) - begin
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


# -- metadata bounds ----------------------------------------------------------------------------

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
