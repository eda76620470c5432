"""Semantic checks of what peers send: one bad track is skipped, not its whole page (spec §7)."""

from __future__ import annotations

import ipaddress
import math
import re

from soundtime.library.tags import MAX_DURATION_SECS
from soundtime.p2p.wire import TrackAnnouncement

HEX64 = re.compile(r"[0-9a-f]{64}")
_FORMAT = re.compile(r"[a-z0-9]{1,16}")
MAX_NAME_CHARS = 255
MAX_GENRE_CHARS = 128
#: Largest file size we believe in (the same order as the largest upload we would take).
MAX_FILE_SIZE = 1 << 40


def _text_problem(name: str, value: str | None, limit: int, *, required: bool) -> str | None:
    if value is None:
        return f"{name} missing" if required else None
    if required and not value.strip():
        return f"{name} empty"
    if len(value) > limit:
        return f"{name} longer than {limit} characters"
    if "\x00" in value:
        return f"{name} contains a NUL character"
    return None


def _range_problem(name: str, value: int | None, low: int, high: int) -> str | None:
    if value is not None and not low <= value <= high:
        return f"{name} {value} outside {low}..{high}"
    return None


def announcement_problem(track: TrackAnnouncement, sender: str) -> str | None:
    """Why ``track`` (received from ``sender``) must be skipped, or None when it is acceptable."""
    if HEX64.fullmatch(track.hash) is None:
        return "hash is not 64 lowercase hex characters"
    if track.cover_hash is not None and HEX64.fullmatch(track.cover_hash) is None:
        return "cover_hash is not 64 lowercase hex characters"
    if track.origin_node != sender:
        return "origin_node is not the sending peer"
    if _FORMAT.fullmatch(track.format.lower()) is None:  # SoundTime's docs show upper case ("FLAC")
        return "format is not 1-16 letters or digits"
    if not (math.isfinite(track.duration_secs) and 0 <= track.duration_secs <= MAX_DURATION_SECS):
        return "duration_secs out of range"
    problems = (
        _text_problem("title", track.title, MAX_NAME_CHARS, required=True),
        _text_problem("artist_name", track.artist_name, MAX_NAME_CHARS, required=True),
        _text_problem("album_title", track.album_title, MAX_NAME_CHARS, required=False),
        _text_problem("album_artist_name", track.album_artist_name, MAX_NAME_CHARS, required=False),
        _text_problem("genre", track.genre, MAX_GENRE_CHARS, required=False),
        _range_problem("file_size", track.file_size, 0, MAX_FILE_SIZE),
        _range_problem("year", track.year, 0, 9999),
        _range_problem("track_number", track.track_number, 0, 9999),
        _range_problem("disc_number", track.disc_number, 0, 999),
        _range_problem("bitrate", track.bitrate, 0, 100_000),
        _range_problem("sample_rate", track.sample_rate, 0, 1_000_000),
    )
    return next((p for p in problems if p is not None), None)


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
