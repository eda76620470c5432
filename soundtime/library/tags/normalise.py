"""Raw tag values and stream properties normalised into AudioTags whose values fit the database."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from soundtime.library.tags.containers import _FRONT_COVER, _raw_tags
from soundtime.library.tags.model import AudioRejected, AudioTags, CoverArt

MAX_COVER_BYTES = 16 * 1024 * 1024
MAX_DURATION_SECS = 7 * 24 * 3600
#: The artist of a track whose tags name none.
UNKNOWN_ARTIST = "Unknown Artist"
_TEXT_LIMIT = 255
_GENRE_LIMIT = 128
_MAX_NUMBER = 32767
# Stream properties outside these ranges are dropped (they would not fit the database anyway).
_MAX_KBPS = 100_000
_MAX_SAMPLE_RATE = 768_000
_MAX_CHANNELS = 255
_OPUS_RATE = 48000


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


def image_mime(data: bytes) -> str | None:
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
        mime = image_mime(data) if len(data) <= MAX_COVER_BYTES else None
        if mime is not None:
            return CoverArt(bytes(data), mime)
    return None
