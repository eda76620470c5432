"""Read an audio file's tags and stream properties through mutagen.

The format is identified from the file's bytes (never its name), the file is checked
for truncation and for oversized metadata, and mutagen's per-container tags are
normalised into AudioTags whose values fit the database. Only headers, tags and the
file's tail are read; nothing is decoded unless the checks found a defect only a decoder
can settle (bytes after the audio, chained Ogg streams), and then within a time budget.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from mutagen import MutagenError
from mutagen.aac import AAC
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3, ID3NoHeaderError
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4NoTrackError
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from soundtime.library.integrity import (
    Defect,
    IncompleteAudio,
    check_metadata,
    check_stream,
    ogg_first_stream_end,
    too_much_metadata,
)
from soundtime.library.integrity.decoding import NotDecodable, decoded_seconds
from soundtime.library.tags.identify import _identify
from soundtime.library.tags.model import AudioDefect, AudioRejected, AudioTags, CoverArt
from soundtime.library.tags.normalise import MAX_COVER_BYTES as MAX_COVER_BYTES
from soundtime.library.tags.normalise import MAX_DURATION_SECS as MAX_DURATION_SECS
from soundtime.library.tags.normalise import UNKNOWN_ARTIST as UNKNOWN_ARTIST
from soundtime.library.tags.normalise import _build
from soundtime.library.tags.normalise import image_mime as image_mime

__all__ = ["AudioDefect", "AudioRejected", "AudioTags", "CoverArt", "read_tags"]

#: Tags, pictures and other metadata mutagen may load from one file (its memory grows with them).
MAX_METADATA_BYTES = 32 * 1024 * 1024
#: What mutagen may read beyond the metadata: frame headers, atom and chunk headers, the last page.
_READ_SLACK = 4 * 1024 * 1024


_MUTAGEN_TYPES: dict[str, Callable[[Any], Any]] = {
    "mp3": MP3,
    "flac": FLAC,
    "ogg": OggVorbis,
    "opus": OggOpus,
    "m4a": MP4,
    "aac": AAC,
    "wav": WAVE,
    "aiff": AIFF,
}


def read_tags(path: Path) -> AudioTags:
    """Identify, integrity-check and read the tags of the audio file at `path`.

    Raises AudioRejected (and nothing else) for any file that cannot enter the library.
    """
    try:
        with path.open("rb") as fileobj:
            return _read(fileobj)
    except AudioRejected:
        raise
    except MP4NoTrackError as exc:
        raise AudioRejected("no_audio", "The file contains no audio track.") from exc
    except MutagenError as exc:
        raise AudioRejected("corrupt", "The file is corrupt (its audio headers could not be read).") from exc
    except OSError as exc:
        raise AudioRejected("corrupt", "The file could not be read (it may be corrupt or missing).") from exc
    except Exception as exc:  # any parser failure on hostile bytes means a damaged file
        raise AudioRejected("corrupt", "The file is corrupt and could not be read.") from exc


def _read(fileobj: BinaryIO) -> AudioTags:
    size = os.fstat(fileobj.fileno()).st_size
    try:
        fmt = _identify(fileobj, size)
        defects = check_stream(fileobj, fmt)
        check_metadata(fileobj, fmt, MAX_METADATA_BYTES)
        decoded = _confirm(fileobj, defects)
        # A tag reader shown a chained Ogg file whole would read every page: show it the first stream.
        view = ogg_first_stream_end(fileobj) if decoded.get("chained_ogg") else size
    except IncompleteAudio as exc:
        raise AudioRejected(exc.code, exc.reason) from exc
    fileobj.seek(0)
    # check_metadata mirrors what mutagen loads; should they ever disagree, this caps its reads.
    reads = _BoundedReads(fileobj, view, MAX_METADATA_BYTES + _READ_SLACK)
    try:
        audio = _MUTAGEN_TYPES[fmt](reads)
        tags = _adts_id3(reads) if fmt == "aac" else audio.tags
    except Exception as exc:
        if reads.exhausted:
            rejection = too_much_metadata(MAX_METADATA_BYTES)
            raise AudioRejected(rejection.code, rejection.reason) from exc
        raise
    built = _build(fmt, audio, tags, size)
    if decoded:  # what was decoded is the length (of every chained stream, without the bytes that are not audio)
        built = replace(built, duration_secs=max(decoded.values()))
    return replace(built, defects=tuple(AudioDefect(defect.code, defect.message) for defect in defects))


def _confirm(fileobj: BinaryIO, defects: list[Defect]) -> dict[str, float]:
    """Have a decoder confirm the defects the checks could not settle; seconds decoded by defect code.

    AudioRejected("corrupt") when the audio does not decode.
    """
    decoded = {}
    for defect in defects:
        if defect.decode is None:
            continue
        try:
            decoded[defect.code] = decoded_seconds(fileobj, defect)
        except NotDecodable as exc:
            raise AudioRejected("corrupt", f"The file is corrupt: {exc} ({defect.message}).") from exc
    return decoded


class _ReadBudgetExhausted(Exception):
    """mutagen asked for more bytes than the read budget allows."""


class _BoundedReads:
    """A read-only view of a file that hands out at most `budget` bytes in all."""

    def __init__(self, fileobj: BinaryIO, size: int, budget: int) -> None:
        self._file = fileobj
        self._size = size
        self._left = budget
        self.exhausted = False

    def read(self, size: int | None = -1) -> bytes:
        available = max(0, self._size - self._file.tell())
        wanted = available if size is None or size < 0 else min(size, available)
        if wanted > self._left:
            self.exhausted = True
            raise _ReadBudgetExhausted
        data = self._file.read(wanted)
        self._left -= len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:  # the view may end before the file does
            return self._file.seek(self._size + offset)
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()


def _adts_id3(fileobj: Any) -> Any:
    """The ID3v2 tag in front of raw AAC, which mutagen's AAC class does not read."""
    fileobj.seek(0)
    try:
        return _load_id3(fileobj)
    except ID3NoHeaderError:
        return None


_load_id3: Callable[[Any], Any] = ID3
