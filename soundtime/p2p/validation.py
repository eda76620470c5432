"""Semantic checks of what peers send (spec §7): strict on what identifies and locates a track, lenient on what
describes it. A track with a bad hash, origin, format or size is skipped (not its whole page); odd descriptive
fields (a year of 12000, a NUL in a title) are repaired and the track kept."""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from collections import OrderedDict
from typing import Any, TypeVar

import msgspec

from soundtime.library.tags import MAX_DURATION_SECS, UNKNOWN_ARTIST
from soundtime.p2p.wire import SearchResultItem, TrackAnnouncement

log = logging.getLogger(__name__)

HEX64 = re.compile(r"[0-9a-f]{64}")
_FORMAT = re.compile(r"[a-z0-9]{1,16}")
MAX_NAME_CHARS = 255
MAX_GENRE_CHARS = 128
#: Largest file size we believe in (the same order as the largest upload we would take).
MAX_FILE_SIZE = 1 << 40
#: The title of a peer's track announced without one.
UNTITLED = "Untitled"


#: Descriptive text fields: (largest length in characters, the value used when a required one is empty).
_TEXT_FIELDS: dict[str, tuple[int, str | None]] = {
    "title": (MAX_NAME_CHARS, UNTITLED),
    "artist_name": (MAX_NAME_CHARS, UNKNOWN_ARTIST),
    "album_title": (MAX_NAME_CHARS, None),
    "album_artist_name": (MAX_NAME_CHARS, None),
    "genre": (MAX_GENRE_CHARS, None),
    "musicbrainz_id": (MAX_NAME_CHARS, None),
}
#: Descriptive numbers and their sensible range; a value outside is cleared.
_NUMBER_FIELDS: dict[str, tuple[int, int]] = {
    "year": (0, 9999),
    "track_number": (0, 9999),
    "disc_number": (0, 999),
    "bitrate": (0, 100_000),
    "sample_rate": (0, 1_000_000),
}

_Described = TypeVar("_Described", TrackAnnouncement, SearchResultItem)


def announcement_problem(track: TrackAnnouncement, sender: str) -> str | None:
    """Why ``track`` (received from ``sender``) must be skipped, or None when it is acceptable.

    Only what identifies or locates the track counts (hash, cover hash, origin, format, size): odd descriptive
    fields are repaired by :func:`tidy` instead, so that one strange tag never costs a peer's track.
    """
    if HEX64.fullmatch(track.hash) is None:
        return "hash is not 64 lowercase hex characters"
    if track.cover_hash is not None and HEX64.fullmatch(track.cover_hash) is None:
        return "cover_hash is not 64 lowercase hex characters"
    if track.origin_node != sender:
        return "origin_node is not the sending peer"
    return format_problem(track.format) or size_problem(track.file_size)


def format_problem(value: str) -> str | None:
    """Why an announced format is unusable (it picks the media type and the ranking of sources), or None."""
    if _FORMAT.fullmatch(value.lower()) is None:  # SoundTime's docs show upper case ("FLAC")
        return "format is not 1-16 letters or digits"
    return None


def size_problem(value: int) -> str | None:
    """Why an announced file size is unusable (a transfer must deliver exactly it), or None."""
    if not 0 <= value <= MAX_FILE_SIZE:
        return f"file_size {value} outside 0..{MAX_FILE_SIZE}"
    return None


def tidy(described: _Described) -> tuple[_Described, list[str]]:
    """``described`` with odd descriptive fields repaired, and the names of the fields that were.

    Text loses NUL characters and is cut to its limit (an empty title or artist becomes a placeholder), a number
    outside its range and a duration that is not a finite number of seconds in range are cleared.
    """
    changes: dict[str, Any] = {}
    for name, (limit, placeholder) in _TEXT_FIELDS.items():
        value = getattr(described, name, None)
        if value is None:
            continue
        fixed = value.replace("\x00", "")[:limit]
        if placeholder is not None and not fixed.strip():
            fixed = placeholder
        if fixed != value:
            changes[name] = fixed
    for name, (low, high) in _NUMBER_FIELDS.items():
        number = getattr(described, name, None)
        if number is not None and not low <= number <= high:
            changes[name] = None
    duration = described.duration_secs
    if not (math.isfinite(duration) and 0 <= duration <= MAX_DURATION_SECS):
        changes["duration_secs"] = 0.0
    if not changes:
        return described, []
    return msgspec.structs.replace(described, **changes), sorted(changes)


class FixLog:
    """Logs each (peer, field) repair once, remembering at most ``capacity`` pairs (the oldest are forgotten)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def note(self, sender: str, fields: list[str], what: str) -> None:
        """Log the fields of ``what`` repaired for ``sender`` that were not logged for it yet."""
        fresh = [name for name in fields if (sender, name) not in self._seen]
        for name in fresh:
            self._seen[(sender, name)] = None
            if len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
        if fresh:
            log.info(
                "peer %s: odd %s in %s repaired (the track is kept; logged once per field)",
                sender[:16],
                ", ".join(fresh),
                what,
            )


def direct_address(value: str) -> str | None:
    """``ip:port`` / ``[v6]:port`` normalised, or None when ``value`` is not one (hostile input is expected)."""
    if len(value) > 64:
        return None
    host, sep, port_text = value.rpartition(":")
    # isdigit() alone is true for non-ASCII digits ("²", "٨") that int() rejects or reads unexpectedly.
    if not sep or not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        return None
    port = int(port_text)
    ip = _dialable_ip(host)
    if ip is None or not 0 < port < 65536:
        return None
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _dialable_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of ``host`` (IPv6 in brackets, IPv4 without, as Rust's SocketAddr has them), if it can be dialled."""
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        ip = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        return None
    if bracketed != (ip.version == 6):  # "::1:80" is ambiguous, "[1.2.3.4]:80" is not an address
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        # A zone is only meaningful as the numeric interface index Rust's SocketAddrV6 parses.
        if ip.scope_id is not None and not (ip.scope_id.isascii() and ip.scope_id.isdigit()):
            return None
        mapped = ip.ipv4_mapped
        if mapped is not None and (mapped.is_multicast or mapped.is_unspecified):
            return None
    if ip.is_multicast or ip.is_unspecified:
        return None
    return ip
