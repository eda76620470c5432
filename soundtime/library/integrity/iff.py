"""Chunked containers: RIFF (WAV) and IFF (AIFF)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from soundtime.library.integrity.common import (
    _MAX_BOXES,
    Defect,
    _box_name,
    _Budget,
    _corrupt,
    _Reader,
    _truncated,
)
from soundtime.library.integrity.id3 import _measure_id3


@dataclass(frozen=True, slots=True)
class _ChunkLayout:
    magic: bytes
    forms: tuple[bytes, ...]
    byteorder: Literal["little", "big"]
    required: tuple[bytes, ...]


_WAV = _ChunkLayout(b"RIFF", (b"WAVE",), "little", (b"fmt ", b"data"))
_AIFF = _ChunkLayout(b"FORM", (b"AIFF", b"AIFC"), "big", (b"COMM", b"SSND"))


def _container_end(reader: _Reader, layout: _ChunkLayout) -> int:
    """Where the container ends by its header (the file may go on: players ignore what follows)."""
    head = reader.read_at(0, 12)
    if len(head) < 12 or head[:4] != layout.magic or head[8:12] not in layout.forms:
        raise _corrupt("the container header is malformed")
    container_end = 8 + int.from_bytes(head[4:8], layout.byteorder)
    if reader.size < container_end:
        raise _truncated("it is shorter than its header declares")
    return container_end


def _chunks(reader: _Reader, layout: _ChunkLayout) -> Iterator[tuple[bytes, int, int]]:
    """(kind, offset, body length) of each top-level chunk, checking that they tile the container."""
    container_end = _container_end(reader, layout)
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


def _check_chunks(reader: _Reader, layout: _ChunkLayout) -> list[Defect]:
    seen = {kind for kind, _, _ in _chunks(reader, layout)}
    missing = [_box_name(kind) for kind in layout.required if kind not in seen]
    if missing:
        raise _corrupt(f"it has no '{missing[0]}' chunk")
    extra = reader.size - _container_end(reader, layout)
    if extra > 1:  # one byte of slack: a pad byte the size omits
        return [Defect("data_past_end", f"{extra:,} bytes after its declared end are not part of it (ignored)")]
    return []


# -- metadata bounds ----------------------------------------------------------------------------


def _measure_chunks(reader: _Reader, budget: _Budget, layout: _ChunkLayout) -> None:
    # mutagen reads the format chunk whole, and the ID3 tag in an "id3 "/"ID3 " chunk.
    header_chunk = layout.required[0]
    for kind, pos, length in _chunks(reader, layout):
        if kind == header_chunk:
            budget.take(length)
        elif kind.rstrip(b" \x00").upper() == b"ID3":
            _measure_id3(reader, pos + 8, budget)
