"""What the checks share: the error they raise, positional and sequential readers, the caps."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Literal

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


#: What a decoder must confirm for a :class:`Defect`: a byte span of a raw frame stream (MP3, ADTS), or the
#: whole file through its container.
WHOLE_FILE = (0, -1)


@dataclass(frozen=True, slots=True)
class Defect:
    """Something wrong with a file that players still play: the file is accepted and the verdict says what.

    ``decode`` is set when the fast checks cannot tell the defect from damage: the file is accepted only if
    a decoder gets through that span without an error (see :mod:`soundtime.library.integrity.decoding`).
    """

    code: str
    message: str
    decode: tuple[int, int] | None = None


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


def _box_name(kind: bytes) -> str:
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in kind)


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
