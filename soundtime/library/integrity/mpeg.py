"""Framed streams: MPEG audio (MP3) and ADTS (raw AAC)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from soundtime.library.integrity.common import Defect, _Budget, _corrupt, _Reader, _truncated
from soundtime.library.integrity.id3 import _leading_tags, _measure_id3, _skip_id3v2, _strip_trailing_tags


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
#: How far from the end the audio is looked for when the tail holds bytes that are not frames.
_JUNK_SEARCH = 1 << 20
#: How the tags that may follow the audio begin: one found cut short means the file was cut.
_TAG_STARTS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN", b"ID3", b"3DI")


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


def free_format_at(data: bytes, *, limit: int = 4096) -> int:
    """Offset of a free-format MPEG Layer III stream (bitrate index 0: frame size only known from the distance
    between sync words) in `data`: three headers alike at a steady distance; -1 if there is none."""
    pos = data.find(b"\xff", 0, limit)
    while pos >= 0:
        header = data[pos : pos + 4]
        if (
            len(header) == 4
            and header[1] & 0xE6 == 0xE2  # sync, Layer III
            and (header[1] >> 3) & 3 != 1  # not the reserved version
            and header[2] >> 4 == 0  # free format
            and (header[2] >> 2) & 3 != 3
        ):
            same = data[pos : pos + 2]
            following = data.find(same, pos + 48, pos + 4096)
            if following > 0 and data[following + 2] >> 4 == 0:
                step = following - pos
                third = data[following + step - 1 : following + step + 3]
                if same in third:
                    return pos
        pos = data.find(b"\xff", pos + 1, limit)
    return -1


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


def _audio_end(data: bytes, parse: _FrameParser, signature: int, *, from_start: bool) -> int | None:
    """Where the frames in `data` end: ``len(data)`` when a run of consistent frames reaches its end (zero
    padding allowed), ``-1`` when the last run ends in a frame cut short, else the end of the last complete run
    (bytes that are not frames follow it), or None when `data` holds no run at all.

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
    ends = [end for pos, (end, frames) in runs.items() if frames >= 2 or (frames == 1 and from_start and pos == 0)]
    if not ends:
        return None
    padding_from = len(data.rstrip(b"\x00"))
    if any(padding_from <= end <= len(data) for end in ends):
        return len(data)
    last = max(ends)
    if last > len(data):
        return -1
    rest = data[last:]
    if len(rest) < 9 and rest.startswith(b"\xff"):  # a frame cut inside its header
        return -1
    return last


def _check_framed(
    reader: _Reader, parse: _FrameParser, window: int, name: str
) -> tuple[int, int, MpegFrame, list[Defect]]:
    """Shared MP3/ADTS check; returns (first frame offset, audio end, first frame, defects)."""
    start = _skip_id3v2(reader)
    end = _strip_trailing_tags(reader, start)
    head = reader.read_at(start, min(end - start, 64 * 1024))
    offset = find_frame_run(head, parse)
    if offset < 0:
        raise _corrupt(f"no {name} audio frames were found")
    first_pos = start + offset
    first = parse(head[offset : offset + 9])
    assert first is not None  # find_frame_run only returns parseable positions
    audio_end: int | None = None
    for span in (window, _JUNK_SEARCH):  # bytes that are not frames may follow: look further back for the audio
        window_start = max(first_pos, end - span)
        tail = reader.read_at(window_start, end - window_start)
        audio_end = _audio_end(tail, parse, first.signature, from_start=window_start == first_pos)
        if audio_end is not None or window_start == first_pos:
            break
    if audio_end is None or audio_end < 0:
        raise _truncated(f"the last {name} frame is cut short")
    if audio_end == len(tail):
        return first_pos, end, first, []
    if tail[audio_end:].startswith(_TAG_STARTS):
        raise _truncated("the tag at its end is cut short")
    audio_end += window_start
    junk = end - audio_end
    message = f"{junk:,} bytes after its last {name} frame are not audio (ignored)"
    return first_pos, audio_end, first, [Defect("trailing_data", message, decode=(first_pos, audio_end))]


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


def _check_mp3(reader: _Reader) -> list[Defect]:
    first_pos, end, first, defects = _check_framed(reader, mpeg_frame, _MP3_TAIL, "MP3")
    if first.layer != 3:
        raise _corrupt("the stream is not MPEG Layer III audio")
    declared = _declared_mpeg_bytes(reader.read_at(first_pos, 64))
    if declared and end - first_pos + 2 * first.length < declared:
        raise _truncated("the MP3 holds fewer bytes than its header declares")
    return defects


def _check_adts(reader: _Reader) -> list[Defect]:
    return _check_framed(reader, adts_frame, _ADTS_TAIL, "AAC")[3]


# -- metadata bounds ----------------------------------------------------------------------------


def _measure_framed(reader: _Reader, budget: _Budget) -> None:
    for start in _leading_tags(reader):
        _measure_id3(reader, start, budget)
