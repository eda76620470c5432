"""Ogg (Vorbis, Opus): the last page, and the comment header packet."""

from __future__ import annotations

import sys

from soundtime.library.integrity.common import (
    WHOLE_FILE,
    Defect,
    _Budget,
    _corrupt,
    _Reader,
    _Stream,
    _truncated,
    _vorbis_comment_length,
)

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


_OGG_MAX_PAGES = 1 << 20


def first_stream_end(reader: _Reader) -> int:
    """Where the first logical stream of a (chained) Ogg file ends: the end of its end-of-stream page."""
    serial = reader.read_at(14, 4)
    pos = 0
    for _ in range(_OGG_MAX_PAGES):
        head = reader.read_at(pos, 27)
        if len(head) < 27 or head[:4] != b"OggS" or head[4] != 0:
            raise _corrupt("an Ogg page of its first stream is malformed")
        lacing = reader.read_at(pos + 27, head[26])
        pos += 27 + len(lacing) + sum(lacing)
        if len(lacing) < head[26] or pos > reader.size:
            raise _truncated("an Ogg page of its first stream is cut short")
        if head[14:18] == serial and head[5] & 0x04:
            return pos
    raise _corrupt("its first Ogg stream has too many pages")


def _check_ogg(reader: _Reader) -> list[Defect]:
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
    if tail[pos + 14 : pos + 18] != first[14:18]:  # chained streams: a decoder must confirm the later ones
        first_stream_end(reader)
        message = "it holds several Ogg streams one after another (chained); the tags are the first one's"
        return [Defect("chained_ogg", message, decode=WHOLE_FILE)]
    # Tag readers find the stream's length on this page, by its serial number and from the
    # last "OggS" near the end; anything else makes them read every page of the file.
    if int.from_bytes(tail[pos + 6 : pos + 14], "little") == _OGG_NO_GRANULE:
        raise _corrupt("its last Ogg page ends no packet")
    if tail.rfind(b"OggS") != pos:
        raise _corrupt("its last Ogg page holds a false page signature")
    return []


# -- metadata bounds ----------------------------------------------------------------------------

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
