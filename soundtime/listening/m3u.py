"""M3U / M3U8 playlist files: reading what other players wrote, writing what they can read (pure functions).

Extended M3U is a line-based format: ``#EXTM3U`` first, then for each entry an optional
``#EXTINF:<seconds>,<display title>`` line followed by the entry's location (a path or a URL). Unknown ``#``
lines are comments. Reading is lenient (plain M3U, CRLF, a BOM, blank lines); the output is always M3U8.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlsplit

#: At most this many entries are read from one file (the rest is ignored).
MAX_ITEMS = 5000
_UUID = re.compile(r"(?<![0-9a-f])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![0-9a-f])", re.I)
_LEADING_NUMBER = re.compile(r"^\s*\d{1,3}\s*[-._)]?\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of an M3U file: where it points and what its ``#EXTINF`` line said."""

    location: str
    title: str | None = None
    duration: int | None = None

    def label(self) -> str:
        """How to name this entry to a person."""
        return self.title or self.location

    def track_id(self) -> uuid.UUID | None:
        """A track id written in the location (files exported by soundtime carry one)."""
        match = _UUID.search(self.location)
        return uuid.UUID(match.group(1)) if match else None

    def artist_title(self) -> tuple[str | None, str] | None:
        """(artist, title) guessed from the ``#EXTINF`` title ("Artist - Title") or the file name."""
        text = self.title
        if not text:
            path = urlsplit(self.location).path if "://" in self.location else self.location
            name = unquote(PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name)
            text = _LEADING_NUMBER.sub("", name.rsplit(".", 1)[0] if "." in name else name)
        artist, sep, title = text.partition(" - ")
        if sep and artist.strip() and title.strip():
            return artist.strip(), title.strip()
        return (None, text.strip()) if text.strip() else None


def parse(content: str) -> list[Item]:
    """The entries of an M3U file (at most :data:`MAX_ITEMS`)."""
    items: list[Item] = []
    pending: tuple[int | None, str | None] = (None, None)
    for raw in content.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.upper().startswith("#EXTINF:"):
                pending = _extinf(line[len("#EXTINF:") :])
            continue
        duration, title = pending
        items.append(Item(location=line[:4096], title=title, duration=duration))
        pending = (None, None)
        if len(items) >= MAX_ITEMS:
            break
    return items


def _extinf(body: str) -> tuple[int | None, str | None]:
    length, _, title = body.partition(",")
    # Attributes (tvg-id="…") may follow the length: keep only the number before them.
    number = length.strip().split(" ", 1)[0]
    try:
        duration: int | None = round(float(number))
    except ValueError:
        duration = None
    if duration is not None and duration < 0:
        duration = None
    return duration, (title.strip()[:512] or None)


@dataclass(frozen=True, slots=True)
class Entry:
    """A track to write into an M3U file."""

    artist: str
    title: str
    duration_secs: float
    location: str


def _clean(text: str) -> str:
    """No line breaks or control characters inside one line of the file."""
    return _CONTROL.sub(" ", text)


def render(name: str, entries: Iterable[Entry]) -> str:
    """An extended M3U (UTF-8, ``#EXTM3U``) of ``entries``."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_clean(name)}"]
    for entry in entries:
        lines.append(f"#EXTINF:{round(entry.duration_secs)},{_clean(entry.artist)} - {_clean(entry.title)}")
        lines.append(_clean(entry.location))
    return "\n".join(lines) + "\n"
