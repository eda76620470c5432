"""Subsonic ids: strings that say what they name (``ar-``, ``al-``, ``tr-``, ``pl-`` + the row's UUID).

A UUID never changes for a row, so ids are stable across restarts and re-imports of unchanged files. ``rh-`` +
a BLAKE3 hex names a track found on a peer by search that is not in the library yet: it is imported (replicated)
when it is first streamed, starred or added to a playlist.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from soundtime.subsonic.errors import Code, SubsonicError

Kind = Literal["ar", "al", "tr", "pl", "rh"]
KINDS: tuple[Kind, ...] = ("ar", "al", "tr", "pl", "rh")
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ParsedId:
    """A parsed id: its kind and the UUID (``rh``: the content hash in ``digest``)."""

    kind: Kind
    uuid: uuid.UUID | None = None
    digest: str | None = None


def artist(value: uuid.UUID) -> str:
    """The Subsonic id of an artist."""
    return f"ar-{value}"


def album(value: uuid.UUID) -> str:
    """The Subsonic id of an album."""
    return f"al-{value}"


def track(value: uuid.UUID) -> str:
    """The Subsonic id of a track."""
    return f"tr-{value}"


def playlist(value: uuid.UUID) -> str:
    """The Subsonic id of a playlist."""
    return f"pl-{value}"


def remote_hit(digest: str) -> str:
    """The Subsonic id of a peer's search hit that is not in the library."""
    return f"rh-{digest}"


def parse(value: str, *allowed: Kind) -> ParsedId:
    """Parse an id of one of the ``allowed`` kinds; error 70 for anything else (it names nothing here)."""
    kind, sep, rest = value.strip().partition("-")
    if sep and kind in allowed:
        if kind == "rh":
            if _HASH.match(rest):
                return ParsedId("rh", digest=rest)
        else:
            try:
                return ParsedId(kind, uuid=uuid.UUID(rest))
            except ValueError:
                pass
    raise SubsonicError(Code.NOT_FOUND, f"no such item: {value[:80]!r}")


def parse_uuid(value: str, kind: Kind) -> uuid.UUID:
    """The UUID of an id that must be of ``kind``."""
    parsed = parse(value, kind)
    assert parsed.uuid is not None
    return parsed.uuid
