"""Cheap structural checks on untrusted audio files, run on every import.

`check_complete` tells whether a file is complete rather than cut short, and which harmless defects it
has (bytes after the audio, chained Ogg streams: :class:`Defect`); `check_metadata` whether the tags a
tag reader (mutagen) would load from it stay small. Both read container headers and a bounded tail,
never the whole audio payload, decode nothing, and do a bounded amount of work whatever the bytes. A
defect the checks cannot tell from damage names what a decoder must confirm (:mod:`.decoding`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from soundtime.library.integrity.common import (
    WHOLE_FILE,
    Defect,
    IncompleteAudio,
    _Budget,
    _Reader,
    too_much_metadata,
)
from soundtime.library.integrity.flac import _check_flac, _measure_flac
from soundtime.library.integrity.id3 import _skip_id3v2, id3v2_end
from soundtime.library.integrity.iff import _AIFF, _WAV, _check_chunks, _measure_chunks
from soundtime.library.integrity.mp4 import _check_mp4, _measure_mp4
from soundtime.library.integrity.mpeg import (
    MpegFrame,
    _check_adts,
    _check_mp3,
    _measure_framed,
    adts_frame,
    find_frame_run,
    free_format_at,
    mpeg_frame,
)
from soundtime.library.integrity.ogg import _check_ogg, _measure_ogg, first_stream_end

__all__ = [
    "WHOLE_FILE",
    "Defect",
    "IncompleteAudio",
    "MpegFrame",
    "adts_frame",
    "check_complete",
    "check_metadata",
    "check_stream",
    "find_frame_run",
    "free_format_at",
    "id3v2_end",
    "leading_tags_end",
    "mpeg_frame",
    "ogg_first_stream_end",
    "too_much_metadata",
]


def check_complete(path: Path, fmt: str) -> list[Defect]:
    """Raise IncompleteAudio unless the `fmt` file at `path` looks structurally complete; its defects."""
    with path.open("rb") as fileobj:
        return check_stream(fileobj, fmt)


def check_stream(fileobj: BinaryIO, fmt: str) -> list[Defect]:
    """Like check_complete, on an open binary file (its position is not preserved)."""
    checker = _CHECKERS.get(fmt)
    if checker is None:
        raise ValueError(f"no integrity check for format {fmt!r}")
    return checker(_Reader(fileobj)) or []


def ogg_first_stream_end(fileobj: BinaryIO) -> int:
    """Where the first logical stream of a chained Ogg file ends (what a tag reader should be shown)."""
    return first_stream_end(_Reader(fileobj))


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


_CHECKERS: dict[str, Callable[[_Reader], list[Defect] | None]] = {
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
