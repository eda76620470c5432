"""Semantic checks of what peers send: announcement rules (spec §7) and the direct addresses peers advertise."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from soundtime.library.tags import MAX_DURATION_SECS
from soundtime.p2p import wire
from soundtime.p2p.transport import is_node_id
from soundtime.p2p.validation import (
    MAX_FILE_SIZE,
    MAX_GENRE_CHARS,
    MAX_NAME_CHARS,
    announcement_problem,
    direct_address,
)
from tests.support.soundtime_peer import GOLDEN_TRACK

HASH = "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
COVER = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
SENDER = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
OTHER = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

GOOD = msgspec.structs.replace(GOLDEN_TRACK, album_artist_name="Queen", origin_node=SENDER)


def announce(**changes: Any) -> wire.TrackAnnouncement:
    """GOOD with some fields changed (duration goes through the f32 rounding of the wire type)."""
    return msgspec.structs.replace(GOOD, **changes)


def problem(**changes: Any) -> str | None:
    return announcement_problem(announce(**changes), SENDER)


def test_a_complete_announcement_is_accepted() -> None:
    assert announcement_problem(GOOD, SENDER) is None


def test_only_the_required_fields_are_enough() -> None:
    bare = wire.TrackAnnouncement(
        hash=HASH, title="t", artist_name="a", duration_secs=0.0, format="mp3", file_size=0, origin_node=SENDER
    )
    assert announcement_problem(bare, SENDER) is None


@pytest.mark.parametrize(
    "value",
    [
        HASH.upper(),
        HASH[:63],
        HASH + "0",
        "g" * 64,
        HASH[:63] + "\n",
        HASH[:63] + "\x00",
        "",
        "../" + HASH[3:],
    ],
)
def test_hash_must_be_64_lowercase_hex(value: str) -> None:
    assert problem(hash=value) == "hash is not 64 lowercase hex characters"


@pytest.mark.parametrize("value", [COVER.upper(), COVER[:63], "", "x" * 64, COVER + "\n"])
def test_cover_hash_when_present_must_be_64_lowercase_hex(value: str) -> None:
    assert problem(cover_hash=value) == "cover_hash is not 64 lowercase hex characters"


def test_no_cover_hash_is_fine() -> None:
    assert problem(cover_hash=None) is None


@pytest.mark.parametrize("origin", [OTHER, SENDER.upper(), "", SENDER[:63]])
def test_origin_must_be_the_sender(origin: str) -> None:
    assert problem(origin_node=origin) == "origin_node is not the sending peer"


def test_origin_check_compares_with_the_real_sender() -> None:
    assert announcement_problem(GOOD, OTHER) == "origin_node is not the sending peer"


@pytest.mark.parametrize("value", ["flac", "mp3", "m4a", "a" * 16, "0", "FLAC", "Mp3"])
def test_format_accepted(value: str) -> None:
    assert problem(format=value) is None


@pytest.mark.parametrize("value", ["", "a" * 17, "mp 3", "mp3\x00", "ogg/vorbis", "mp3\n", "flaç"])
def test_format_refused(value: str) -> None:
    assert problem(format=value) == "format is not 1-16 letters or digits"


@pytest.mark.parametrize("value", [0.0, -0.0, 1e-7, 354.5, float(MAX_DURATION_SECS)])
def test_duration_accepted(value: float) -> None:
    assert problem(duration_secs=value) is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.5, -1e-3, MAX_DURATION_SECS + 1.0, 1e30])
def test_duration_refused(value: float) -> None:
    assert problem(duration_secs=value) == "duration_secs out of range"


# --- text fields: at the limit accepted, one over refused, NUL refused ----------------------------------------

TEXT_FIELDS = [
    ("title", MAX_NAME_CHARS, True),
    ("artist_name", MAX_NAME_CHARS, True),
    ("album_title", MAX_NAME_CHARS, False),
    ("album_artist_name", MAX_NAME_CHARS, False),
    ("genre", MAX_GENRE_CHARS, False),
]


def test_limits_are_the_specified_ones() -> None:
    assert (MAX_NAME_CHARS, MAX_GENRE_CHARS) == (255, 128)


@pytest.mark.parametrize(("field", "limit", "required"), TEXT_FIELDS)
def test_text_at_the_limit_is_accepted(field: str, limit: int, required: bool) -> None:
    assert problem(**{field: "x" * limit}) is None
    # The limit counts characters, not bytes.
    assert problem(**{field: "é" * limit}) is None
    assert problem(**{field: "🎵" * limit}) is None


@pytest.mark.parametrize(("field", "limit", "required"), TEXT_FIELDS)
def test_text_one_over_the_limit_is_refused(field: str, limit: int, required: bool) -> None:
    assert problem(**{field: "x" * (limit + 1)}) == f"{field} longer than {limit} characters"
    assert problem(**{field: "🎵" * (limit + 1)}) == f"{field} longer than {limit} characters"


@pytest.mark.parametrize(("field", "limit", "required"), TEXT_FIELDS)
@pytest.mark.parametrize("value", ["\x00", "a\x00b", "trailing\x00"])
def test_text_with_a_nul_character_is_refused(field: str, limit: int, required: bool, value: str) -> None:
    assert problem(**{field: value}) == f"{field} contains a NUL character"


@pytest.mark.parametrize(("field", "limit", "required"), TEXT_FIELDS)
def test_empty_text(field: str, limit: int, required: bool) -> None:
    expected = f"{field} empty" if required else None
    assert problem(**{field: ""}) == expected
    assert problem(**{field: " \t\n"}) == expected


@pytest.mark.parametrize(("field", "limit", "required"), [f for f in TEXT_FIELDS if not f[2]])
def test_optional_text_may_be_missing(field: str, limit: int, required: bool) -> None:
    assert problem(**{field: None}) is None


# --- numbers --------------------------------------------------------------------------------------------------

RANGES = [
    ("file_size", 0, MAX_FILE_SIZE),
    ("year", 0, 9999),
    ("track_number", 0, 9999),
    ("disc_number", 0, 999),
    ("bitrate", 0, 100_000),
    ("sample_rate", 0, 1_000_000),
]


@pytest.mark.parametrize(("field", "low", "high"), RANGES)
def test_numbers_at_their_bounds_are_accepted(field: str, low: int, high: int) -> None:
    assert problem(**{field: low}) is None
    assert problem(**{field: high}) is None


@pytest.mark.parametrize(("field", "low", "high"), RANGES)
def test_numbers_outside_their_range_are_refused(field: str, low: int, high: int) -> None:
    assert problem(**{field: low - 1}) == f"{field} {low - 1} outside {low}..{high}"
    assert problem(**{field: high + 1}) == f"{field} {high + 1} outside {low}..{high}"


@pytest.mark.parametrize("field", ["year", "track_number", "disc_number", "bitrate", "sample_rate"])
def test_optional_numbers_may_be_missing(field: str) -> None:
    assert problem(**{field: None}) is None


def test_a_decoded_frame_with_hostile_values_is_judged_per_track() -> None:
    """What the wire decoder lets through (valid types, hostile values) is caught here, track by track."""
    good = msgspec.structs.asdict(GOOD)
    tracks = [good, {**good, "title": "\x00"}, {**good, "year": -5}, {**good, "origin_node": OTHER}]
    decoded = msgspec.json.decode(msgspec.json.encode(tracks), type=list[wire.TrackAnnouncement])
    assert [announcement_problem(t, SENDER) for t in decoded] == [
        None,
        "title contains a NUL character",
        "year -5 outside 0..9999",
        "origin_node is not the sending peer",
    ]


# --- node ids ---------------------------------------------------------------------------------------------------


def test_is_node_id_is_the_lowercase_shape() -> None:
    assert is_node_id(SENDER)
    assert not is_node_id(SENDER.upper())
    assert not is_node_id(SENDER[:63])
    assert not is_node_id(SENDER + "\n")
    assert not is_node_id("")


# --- direct addresses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3.4:5", "1.2.3.4:5"),
        ("127.0.0.1:11204", "127.0.0.1:11204"),
        ("192.168.1.20:65535", "192.168.1.20:65535"),
        ("10.0.0.1:1", "10.0.0.1:1"),
        ("1.2.3.4:00080", "1.2.3.4:80"),  # leading zeros of the port are normalised away
        ("[::1]:80", "[::1]:80"),
        ("[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]:443"),  # compressed, lower case
        ("[2001:0db8::0001]:443", "[2001:db8::1]:443"),
        ("[fe80::1%4]:80", "[fe80::1%4]:80"),  # numeric zone: what Rust's SocketAddrV6 prints and parses
    ],
)
def test_direct_address_accepts_and_normalises(value: str, expected: str) -> None:
    assert direct_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        ":",
        "1.2.3.4",
        "1.2.3.4:",
        ":80",
        "localhost:80",
        "example.com:443",
        "1.2.3:80",
        "1.2.3.256:80",
        "01.2.3.4:80",  # leading zeros are ambiguous (octal)
        "1.2.3.4:-1",
        "1.2.3.4:+80",
        "1.2.3.4: 80",
        " 1.2.3.4:80",
        "1.2.3.4:80 ",
        "1.2.3.4:8o",
        "1.2.3.4:0x50",
        "1.2.3.4:²",  # isdigit() but not a port (int() raises)
        "1.2.3.4:٨٠",  # Arabic-Indic digits
        "1.2.3.4:1_000",
        "::1:80",  # IPv6 without brackets is ambiguous
        "2001:db8::1:443",
        "[1.2.3.4]:80",  # IPv4 in brackets
        "[::1]",
        "[::1:80",
        "::1]:80",
        "[[::1]]:80",
        "[fe80::1%eth0]:80",  # a named zone means nothing to another host
        "[fe80::1%]:80",
        "1.2.3.4:80\x00",
        "1.2.3.4\x00:80",
        "1.2.3.4:80/path",
    ],
)
def test_direct_address_refuses_garbage(value: str) -> None:
    assert direct_address(value) is None


@pytest.mark.parametrize("port", ["0", "00000", "65536", "99999", "123456", "4294967376"])
def test_direct_address_refuses_ports_out_of_range(port: str) -> None:
    assert direct_address(f"1.2.3.4:{port}") is None
    assert direct_address(f"[::1]:{port}") is None


def test_direct_address_keeps_ipv4_mapped_addresses() -> None:
    normalised = direct_address("[::FFFF:1.2.3.4]:80")
    assert normalised is not None
    assert normalised == direct_address(normalised)


def test_direct_address_port_bounds() -> None:
    assert direct_address("1.2.3.4:1") == "1.2.3.4:1"
    assert direct_address("1.2.3.4:65535") == "1.2.3.4:65535"


@pytest.mark.parametrize(
    "value",
    [
        "224.0.0.1:80",
        "239.255.255.250:1900",
        "[ff02::1]:80",
        "[ff05::fb]:5353",
        "[::ffff:224.0.0.251]:5353",  # IPv4 multicast mapped into IPv6
    ],
)
def test_direct_address_refuses_multicast(value: str) -> None:
    assert direct_address(value) is None


@pytest.mark.parametrize("value", ["0.0.0.0:80", "[::]:80", "[0:0:0:0:0:0:0:0]:80", "[::ffff:0.0.0.0]:80"])
def test_direct_address_refuses_unspecified(value: str) -> None:
    assert direct_address(value) is None


def test_direct_address_refuses_over_long_input() -> None:
    # The longest address Rust prints (full IPv6, u32 zone, 5-digit port) is well under the 64-character cap.
    longest = "[fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535"
    assert direct_address(longest) == longest
    assert direct_address("[" + "0" * 4 + ":" * 2 + "1]:80") == "[::1]:80"
    # Zero padding cannot smuggle a huge input through (the cap is on the raw text).
    assert direct_address("1.2.3.4:" + "0" * 59 + "80") is None
    assert direct_address("1" * 10_000 + ":80") is None
    assert direct_address("[" + "0:" * 40 + ":1]:80") is None
    assert direct_address("x" * 1_000_000) is None
