"""Read an audio file's tags and stream properties through mutagen.

The format is identified from the file's bytes (never its name), the file is checked
for truncation and for oversized metadata, and mutagen's per-container tags are
normalised into AudioTags whose values fit the database. Nothing is decoded; only
headers, tags and the file's tail are read.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mutagen import MutagenError
from mutagen.aac import AAC
from mutagen.aiff import AIFF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3, ID3NoHeaderError
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4NoTrackError
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from soundtime.library.integrity import (
    IncompleteAudio,
    adts_frame,
    check_metadata,
    check_stream,
    find_frame_run,
    leading_tags_end,
    mpeg_frame,
    too_much_metadata,
)

__all__ = ["AudioRejected", "AudioTags", "CoverArt", "read_tags"]

MAX_COVER_BYTES = 16 * 1024 * 1024
#: Tags, pictures and other metadata mutagen may load from one file (its memory grows with them).
MAX_METADATA_BYTES = 32 * 1024 * 1024
#: What mutagen may read beyond the metadata: frame headers, atom and chunk headers, the last page.
_READ_SLACK = 4 * 1024 * 1024
MAX_DURATION_SECS = 7 * 24 * 3600
_TEXT_LIMIT = 255
_GENRE_LIMIT = 128
_MAX_NUMBER = 32767
# Stream properties outside these ranges are dropped (they would not fit the database anyway).
_MAX_KBPS = 100_000
_MAX_SAMPLE_RATE = 768_000
_MAX_CHANNELS = 255
_OPUS_RATE = 48000
_FRONT_COVER = 3
_SNIFF_WINDOW = 64 * 1024


@dataclass(frozen=True, slots=True)
class CoverArt:
    """Embedded cover image; `mime` comes from the image's magic bytes."""

    data: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class AudioTags:
    """Normalised tags and stream properties of one audio file."""

    format: str
    title: str | None
    artist: str | None
    album_artist: str | None
    album: str | None
    track_number: int | None
    disc_number: int | None
    year: int | None
    genre: str | None
    duration_secs: float
    bitrate_kbps: int | None
    sample_rate: int | None
    channels: int | None
    cover: CoverArt | None


class AudioRejected(Exception):
    """A file that cannot enter the library. `reason` is a short user-facing sentence, `code` a stable slug.

    Codes: "not_audio", "unsupported_format", "truncated", "corrupt", "no_audio".
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __reduce__(self) -> tuple[type[AudioRejected], tuple[str, str]]:
        """Survive pickling across a process pool (Exception's default loses `reason`)."""
        return AudioRejected, (self.code, self.reason)


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
        check_stream(fileobj, fmt)
        check_metadata(fileobj, fmt, MAX_METADATA_BYTES)
    except IncompleteAudio as exc:
        raise AudioRejected(exc.code, exc.reason) from exc
    fileobj.seek(0)
    # check_metadata mirrors what mutagen loads; should they ever disagree, this caps its reads.
    reads = _BoundedReads(fileobj, size, MAX_METADATA_BYTES + _READ_SLACK)
    try:
        audio = _MUTAGEN_TYPES[fmt](reads)
        tags = _adts_id3(reads) if fmt == "aac" else audio.tags
    except Exception as exc:
        if reads.exhausted:
            rejection = too_much_metadata(MAX_METADATA_BYTES)
            raise AudioRejected(rejection.code, rejection.reason) from exc
        raise
    return _build(fmt, audio, tags, size)


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


# -- identification -----------------------------------------------------------------------------

_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MAC ", "Monkey's Audio"),
    (b"wvpk", "WavPack"),
    (b"MPCK", "Musepack"),
    (b"MP+", "Musepack"),
    (b"tBaK", "TAK"),
    (b"OFR ", "OptimFROG"),
    (b"TTA1", "TrueAudio"),
    (b"DSD ", "DSF"),
    (b"FRM8", "DSDIFF"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMA/ASF"),
    (b"MThd", "MIDI"),
    (b".snd", "Sun AU"),
    (b"caff", "Core Audio"),
    (b"RF64", "RF64 WAV"),
    (b"BW64", "BW64 WAV"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (b"#!AMR", "AMR"),
    (b"\x0b\x77", "AC-3"),
)
# ISO-BMFF brands of still images (HEIF/AVIF), which share MP4's "ftyp" signature.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"})
# Containers whose payload may embed MPEG audio frames (AVI, ZIP...): never sniff inside them.
_OTHER_CONTAINERS = (b"RIFF", b"FORM", b"PK\x03\x04", b"%PDF", b"\x89PNG", b"GIF8", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b")
_OGG_CODECS: dict[bytes, str] = {b"\x01vorbis": "ogg", b"OpusHead": "opus"}
_OGG_UNSUPPORTED: tuple[tuple[bytes, str], ...] = (
    (b"\x7fFLAC", "Ogg FLAC"),
    (b"Speex   ", "Ogg Speex"),
    (b"\x80theora", "Ogg Theora video"),
    (b"fishead\x00", "Ogg with a skeleton stream"),
)


def _not_audio() -> AudioRejected:
    return AudioRejected("not_audio", "The file is not a recognised audio file.")


def _unsupported(what: str) -> AudioRejected:
    return AudioRejected("unsupported_format", f"{what} is not a supported format.")


def _read_at(fileobj: BinaryIO, offset: int, length: int) -> bytes:
    fileobj.seek(offset)
    return fileobj.read(length)


def _identify(fileobj: BinaryIO, size: int) -> str:
    """The format slug of an open audio file, judged by its content alone.

    Raises AudioRejected for empty, unrecognised and unsupported files. (mutagen's own
    guessing weighs file extensions and cannot spot raw AAC without one, so it is not used.)
    """
    start = leading_tags_end(fileobj)
    if start > size:
        raise AudioRejected("truncated", "The file is truncated (its leading tag runs past the end).")
    body = _read_at(fileobj, start, _SNIFF_WINDOW)
    if not body:
        if size == 0:
            raise AudioRejected("not_audio", "The file is empty.")
        raise AudioRejected("no_audio", "The file holds tags but no audio.")
    return _container_format(body) or _framed_format(body)


def _container_format(body: bytes) -> str | None:
    """Format of a file with a container signature, or None when there is none."""
    kind = body[8:12]
    if body.startswith(b"fLaC"):
        return "flac"
    if body[4:8] == b"ftyp":
        if body[8:12] in _IMAGE_BRANDS:
            raise _not_audio()
        return "m4a"
    if body.startswith(b"RIFF") and kind == b"WAVE":
        return "wav"
    if body.startswith(b"FORM") and kind in (b"AIFF", b"AIFC"):
        return "aiff"
    if body.startswith(b"FORM") and kind in (b"8SVX", b"16SV"):
        raise _unsupported("IFF 8SVX audio")
    if body.startswith(b"OggS"):
        return _ogg_format(body)
    for magic, name in _UNSUPPORTED_MAGIC:
        if body.startswith(magic):
            raise _unsupported(name)
    if body.startswith(_OTHER_CONTAINERS):  # could hold MP3 frames, but is not an audio file
        raise _not_audio()
    return None


def _ogg_format(body: bytes) -> str:
    """Vorbis or Opus, from the first packet of the first Ogg page."""
    packet = body[27 + body[26] :] if len(body) > 27 else b""
    for magic, fmt in _OGG_CODECS.items():
        if packet.startswith(magic):
            return fmt
    name = next((name for magic, name in _OGG_UNSUPPORTED if packet.startswith(magic)), "This Ogg codec")
    raise _unsupported(name)


def _framed_format(body: bytes) -> str:
    """MP3 or ADTS AAC, whichever frame run starts first, or AudioRejected."""
    mpeg_at = find_frame_run(body, mpeg_frame)
    adts_at = find_frame_run(body, adts_frame, limit=mpeg_at if mpeg_at >= 0 else None)
    if adts_at >= 0:
        return "aac"
    if mpeg_at >= 0:
        frame = mpeg_frame(body[mpeg_at : mpeg_at + 4])
        if frame is not None and frame.layer == 3:
            return "mp3"
        raise _unsupported("MPEG Layer I/II")
    if body.startswith(b"ADIF"):
        raise _unsupported("ADIF AAC")
    raise _not_audio()


# -- building AudioTags -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RawTags:
    """Tag values as found in the container, before normalisation."""

    title: list[str]
    artist: list[str]
    album_artist: list[str]
    album: list[str]
    track: list[str]
    disc: list[str]
    year: list[str]
    genre: list[str]
    covers: list[tuple[int, bytes]]


_NO_TAGS = _RawTags([], [], [], [], [], [], [], [], [])


def _build(fmt: str, audio: Any, tags: Any, size: int) -> AudioTags:
    raw = _raw_tags(fmt, audio, tags)
    info = audio.info
    duration = float(info.length or 0)
    if not math.isfinite(duration) or duration > MAX_DURATION_SECS:
        days = MAX_DURATION_SECS // 86400
        raise AudioRejected("corrupt", f"The file is corrupt (its duration is not a number or over {days} days).")
    if duration <= 0:
        raise AudioRejected("no_audio", "The file contains no audio.")
    return AudioTags(
        format=fmt,
        title=_text(raw.title, _TEXT_LIMIT),
        artist=_text(raw.artist, _TEXT_LIMIT, join=True),
        album_artist=_text(raw.album_artist, _TEXT_LIMIT, join=True),
        album=_text(raw.album, _TEXT_LIMIT),
        track_number=_number(raw.track),
        disc_number=_number(raw.disc),
        year=_year(raw.year),
        genre=_text(raw.genre, _GENRE_LIMIT, join=True),
        duration_secs=duration,
        bitrate_kbps=_bitrate(getattr(info, "bitrate", 0), size, duration),
        sample_rate=_OPUS_RATE if fmt == "opus" else _in_range(getattr(info, "sample_rate", 0), _MAX_SAMPLE_RATE),
        channels=_in_range(getattr(info, "channels", 0), _MAX_CHANNELS),
        cover=_cover(raw.covers),
    )


def _raw_tags(fmt: str, audio: Any, tags: Any) -> _RawTags:
    if fmt in ("flac", "ogg", "opus"):
        pictures = audio.pictures if fmt == "flac" else []
        return _vorbis_tags(tags, pictures)
    if fmt == "m4a":
        return _mp4_tags(tags)
    return _id3_tags(tags)


def _id3_tags(tags: Any) -> _RawTags:
    if tags is None:
        return _NO_TAGS

    def texts(frame_id: str) -> list[str]:
        return [str(value) for frame in tags.getall(frame_id) for value in frame.text]

    return _RawTags(
        title=texts("TIT2"),
        artist=texts("TPE1"),
        album_artist=texts("TPE2"),
        album=texts("TALB"),
        track=texts("TRCK"),
        disc=texts("TPOS"),
        year=texts("TDRC") or texts("TYER") or texts("TDOR"),
        genre=[genre for frame in tags.getall("TCON") for genre in frame.genres],
        covers=[(frame.type, frame.data) for frame in tags.getall("APIC")],
    )


def _vorbis_tags(tags: Any, pictures: Iterable[Any]) -> _RawTags:
    covers = [(picture.type, picture.data) for picture in pictures]
    if tags is None:
        return _RawTags([], [], [], [], [], [], [], [], covers)

    def texts(*keys: str) -> list[str]:
        return [value for key in keys for value in tags.get(key, [])]

    covers.extend(_block_pictures(texts("METADATA_BLOCK_PICTURE")))
    covers.extend((0, data) for data in _base64_all(texts("COVERART")))
    return _RawTags(
        title=texts("title"),
        artist=texts("artist"),
        album_artist=texts("albumartist", "album artist", "album_artist"),
        album=texts("album"),
        track=texts("tracknumber"),
        disc=texts("discnumber"),
        year=texts("date") or texts("year") or texts("originaldate"),
        genre=texts("genre"),
        covers=covers,
    )


def _base64_all(values: Iterable[str]) -> Iterator[bytes]:
    for value in values:
        try:
            yield base64.b64decode(value)
        except (binascii.Error, ValueError):
            continue


_parse_picture: Callable[[bytes], Any] = Picture


def _block_pictures(values: Iterable[str]) -> Iterator[tuple[int, bytes]]:
    """Decode METADATA_BLOCK_PICTURE comments (base64 FLAC picture blocks), skipping bad ones."""
    for block in _base64_all(values):
        try:
            picture = _parse_picture(block)
        except (MutagenError, ValueError, IndexError):
            continue
        yield picture.type, picture.data


def _mp4_tags(tags: Any) -> _RawTags:
    if tags is None:
        return _NO_TAGS

    def texts(atom: str) -> list[str]:
        return [str(value) for value in tags.get(atom, [])]

    def firsts(atom: str) -> list[str]:
        return [str(pair[0]) for pair in tags.get(atom, []) if pair]

    return _RawTags(
        title=texts("\xa9nam"),
        artist=texts("\xa9ART"),
        album_artist=texts("aART"),
        album=texts("\xa9alb"),
        track=firsts("trkn"),
        disc=firsts("disk"),
        year=texts("\xa9day"),
        genre=texts("\xa9gen"),
        covers=[(_FRONT_COVER, bytes(cover)) for cover in tags.get("covr", [])],
    )


# -- normalisation ------------------------------------------------------------------------------

_NUMBER = re.compile(r"\s*0*(\d{1,9})\s*(?:/.*)?", re.DOTALL)
_BARE_YEAR = re.compile(r"\s*(\d{1,9})\s*")
_YEAR_IN_DATE = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _clean(value: str) -> str:
    """Drop NULs and lone surrogates (neither fits PostgreSQL text), trim whitespace.

    Surrogate pairs, which some decoders leave split, are joined into their character.
    """
    value = value.replace("\x00", "")
    if not value.isascii():
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")
    return value.strip()


def _text(values: Iterable[str], limit: int, *, join: bool = False) -> str | None:
    """First (or all, "; "-joined) non-empty value, cleaned and cut to `limit` characters."""
    cleaned = [text for text in map(_clean, values) if text]
    if not cleaned:
        return None
    text = "; ".join(dict.fromkeys(cleaned)) if join else cleaned[0]
    return text[:limit].rstrip()


def _number(values: list[str]) -> int | None:
    """Track/disc number from "3", "03" or "3/12"; None unless within 1..32767."""
    match = _NUMBER.fullmatch(_clean(values[0])) if values else None
    number = int(match.group(1)) if match else 0
    return number if 1 <= number <= _MAX_NUMBER else None


def _year(values: list[str]) -> int | None:
    """Year from "1975", "1975-10-31" and the like; None unless within 1..9999."""
    text = _clean(values[0]) if values else ""
    bare = _BARE_YEAR.fullmatch(text)
    found = bare or _YEAR_IN_DATE.search(text)
    year = int(found.group(1)) if found else 0
    return year if 1 <= year <= 9999 else None


def _in_range(value: Any, high: int) -> int | None:
    """`value` as an int when it is a finite number within 1..high, else None."""
    try:
        number = float(value or 0)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if math.isfinite(number) and 1 <= number <= high else None


def _bitrate(bps: Any, size: int, duration: float) -> int | None:
    """kbps (1..100000) from mutagen's bits per second, else estimated from the file size."""
    bits_per_second = float(bps or 0)
    if not math.isfinite(bits_per_second) or bits_per_second <= 0:
        bits_per_second = size * 8 / duration
    return _in_range(round(bits_per_second / 1000) if math.isfinite(bits_per_second) else 0, _MAX_KBPS)


def _image_mime(data: bytes) -> str | None:
    """MIME type of a JPEG, PNG, GIF or WebP image from its magic bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _cover(candidates: list[tuple[int, bytes]]) -> CoverArt | None:
    """The front cover if usable, else the first usable image of any type."""
    ordered = sorted(candidates, key=lambda candidate: candidate[0] != _FRONT_COVER)
    for _, data in ordered:
        mime = _image_mime(data) if len(data) <= MAX_COVER_BYTES else None
        if mime is not None:
            return CoverArt(bytes(data), mime)
    return None
