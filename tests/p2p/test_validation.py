"""Semantic checks of what peers send: announcement rules (spec §7) and the direct addresses peers advertise."""

from __future__ import annotations

import logging
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
    FixLog,
    announcement_problem,
    direct_address,
    tidy,
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


# --- what only describes a track is repaired, never a reason to drop it ------------------------------------------


def tidied(**changes: Any) -> tuple[wire.TrackAnnouncement, list[str]]:
    track = announce(**changes)
    assert announcement_problem(track, SENDER) is None  # a description never makes a track unacceptable
    return tidy(track)


def test_a_sound_description_is_left_alone() -> None:
    assert tidy(GOOD) == (GOOD, [])


@pytest.mark.parametrize("value", [0.0, -0.0, 1e-7, 354.5, float(MAX_DURATION_SECS)])
def test_duration_in_range_is_kept(value: float) -> None:
    assert tidied(duration_secs=value)[1] == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.5, -1e-3, MAX_DURATION_SECS + 1.0, 1e30])
def test_duration_out_of_range_is_cleared(value: float) -> None:
    track, fixed = tidied(duration_secs=value)
    assert (track.duration_secs, fixed) == (0.0, ["duration_secs"])


TEXT_FIELDS = [
    ("title", MAX_NAME_CHARS, "Untitled"),
    ("artist_name", MAX_NAME_CHARS, "Unknown Artist"),
    ("album_title", MAX_NAME_CHARS, None),
    ("album_artist_name", MAX_NAME_CHARS, None),
    ("genre", MAX_GENRE_CHARS, None),
]


def test_limits_are_the_specified_ones() -> None:
    assert (MAX_NAME_CHARS, MAX_GENRE_CHARS) == (255, 128)


@pytest.mark.parametrize(("field", "limit", "placeholder"), TEXT_FIELDS)
def test_text_at_the_limit_is_kept(field: str, limit: int, placeholder: str | None) -> None:
    # The limit counts characters, not bytes.
    for value in ("x" * limit, "é" * limit, "🎵" * limit):
        assert tidied(**{field: value}) == (announce(**{field: value}), [])


@pytest.mark.parametrize(("field", "limit", "placeholder"), TEXT_FIELDS)
def test_text_over_the_limit_is_cut_to_it(field: str, limit: int, placeholder: str | None) -> None:
    for value in ("x" * (limit + 1), "🎵" * (limit + 1)):
        track, fixed = tidied(**{field: value})
        assert (getattr(track, field), fixed) == (value[:limit], [field])


@pytest.mark.parametrize(("field", "limit", "placeholder"), TEXT_FIELDS)
@pytest.mark.parametrize(("value", "clean"), [("a\x00b", "ab"), ("trailing\x00", "trailing"), ("\x00x\x00", "x")])
def test_nul_characters_are_removed(field: str, limit: int, placeholder: str | None, value: str, clean: str) -> None:
    track, fixed = tidied(**{field: value})
    assert (getattr(track, field), fixed) == (clean, [field])


@pytest.mark.parametrize(("field", "limit", "placeholder"), TEXT_FIELDS)
def test_empty_text(field: str, limit: int, placeholder: str | None) -> None:
    for value in ("", " \t\n", "\x00"):
        track, fixed = tidied(**{field: value})
        if placeholder is not None:  # a title or an artist must show something
            assert (getattr(track, field), fixed) == (placeholder, [field])
        else:
            assert getattr(track, field) == value.replace("\x00", "")


@pytest.mark.parametrize(("field", "limit", "placeholder"), [f for f in TEXT_FIELDS if f[2] is None])
def test_optional_text_may_be_missing(field: str, limit: int, placeholder: str | None) -> None:
    assert tidied(**{field: None})[1] == []


# --- numbers --------------------------------------------------------------------------------------------------

RANGES = [
    ("year", 0, 9999),
    ("track_number", 0, 9999),
    ("disc_number", 0, 999),
    ("bitrate", 0, 100_000),
    ("sample_rate", 0, 1_000_000),
]


@pytest.mark.parametrize(("field", "low", "high"), RANGES)
def test_numbers_at_their_bounds_are_kept(field: str, low: int, high: int) -> None:
    assert tidied(**{field: low})[1] == []
    assert tidied(**{field: high})[1] == []


@pytest.mark.parametrize(("field", "low", "high"), RANGES)
def test_numbers_outside_their_range_are_cleared(field: str, low: int, high: int) -> None:
    for value in (low - 1, high + 1):
        track, fixed = tidied(**{field: value})
        assert (getattr(track, field), fixed) == (None, [field])


@pytest.mark.parametrize(("field", "low", "high"), RANGES)
def test_optional_numbers_may_be_missing(field: str, low: int, high: int) -> None:
    assert tidied(**{field: None})[1] == []


def test_several_odd_fields_are_all_repaired() -> None:
    track, fixed = tidied(year=12000, title="a\x00", genre="g" * 200, disc_number=-1)
    assert fixed == ["disc_number", "genre", "title", "year"]
    assert (track.year, track.title, track.genre, track.disc_number) == (None, "a", "g" * 128, None)
    assert (track.hash, track.file_size, track.format, track.origin_node) == (GOOD.hash, GOOD.file_size, "flac", SENDER)


def test_search_hits_are_repaired_the_same_way() -> None:
    hit = wire.SearchResultItem(
        hash=HASH,
        title="t\x00",
        artist_name="",
        duration_secs=-1.0,
        format="mp3",
        year=-5,
        bitrate=10**6,
        source_node=SENDER,
        musicbrainz_id="m" * 300,
        relevance=1.0,
    )
    repaired, fixed = tidy(hit)
    assert fixed == ["artist_name", "bitrate", "duration_secs", "musicbrainz_id", "title", "year"]
    assert (repaired.title, repaired.artist_name, repaired.duration_secs) == ("t", "Unknown Artist", 0.0)
    assert (repaired.year, repaired.bitrate, repaired.musicbrainz_id) == (None, None, "m" * 255)


# --- what identifies or locates a track is strict -----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, MAX_FILE_SIZE])
def test_file_size_in_range_is_accepted(value: int) -> None:
    assert problem(file_size=value) is None


@pytest.mark.parametrize("value", [-1, MAX_FILE_SIZE + 1, (1 << 63) - 1])
def test_file_size_out_of_range_is_refused(value: int) -> None:
    assert problem(file_size=value) == f"file_size {value} outside 0..{MAX_FILE_SIZE}"


def test_a_decoded_frame_with_hostile_values_is_judged_per_track() -> None:
    """What the wire decoder lets through (valid types, hostile values) is caught here, track by track."""
    good = msgspec.structs.asdict(GOOD)
    tracks = [good, {**good, "title": "\x00"}, {**good, "year": -5}, {**good, "origin_node": OTHER}]
    decoded = msgspec.json.decode(msgspec.json.encode(tracks), type=list[wire.TrackAnnouncement])
    assert [announcement_problem(t, SENDER) for t in decoded] == [
        None,
        None,
        None,
        "origin_node is not the sending peer",
    ]
    assert [tidy(t)[1] for t in decoded[:3]] == [[], ["title"], ["year"]]


def test_repairs_are_logged_once_per_peer_and_field_within_a_bound(caplog: pytest.LogCaptureFixture) -> None:
    repairs = FixLog(capacity=2)
    with caplog.at_level(logging.INFO, logger="soundtime.p2p.validation"):
        repairs.note(SENDER, ["year"], "announced tracks")
        repairs.note(SENDER, ["year"], "announced tracks")  # already said
        repairs.note(SENDER, ["title", "year"], "announced tracks")  # only the title is news
        repairs.note(OTHER, ["year"], "search results")  # another peer; the oldest pair is forgotten
        repairs.note(SENDER, [], "announced tracks")
        repairs.note(SENDER, ["year"], "announced tracks")  # forgotten, so said again
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"peer {SENDER[:16]}: odd year in announced tracks repaired (the track is kept; logged once per field)",
        f"peer {SENDER[:16]}: odd title in announced tracks repaired (the track is kept; logged once per field)",
        f"peer {OTHER[:16]}: odd year in search results repaired (the track is kept; logged once per field)",
        f"peer {SENDER[:16]}: odd year in announced tracks repaired (the track is kept; logged once per field)",
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


def test_an_address_of_64_characters_is_read_and_one_of_65_is_not() -> None:
    sixty_four = "[fe80::1%" + "0" * 50 + "4]:80"  # a (long-winded) numeric zone fills it up
    assert len(sixty_four) == 64
    assert direct_address(sixty_four) == sixty_four
    assert direct_address(sixty_four.replace("%", "%0")) is None  # 65 characters


def test_a_port_is_at_most_five_digits_even_with_leading_zeros() -> None:
    assert direct_address("1.2.3.4:00080") == "1.2.3.4:80"
    assert direct_address("1.2.3.4:000080") is None


def test_the_repair_log_remembers_exactly_its_capacity(caplog: pytest.LogCaptureFixture) -> None:
    repairs = FixLog(capacity=2)
    with caplog.at_level(logging.INFO, logger="soundtime.p2p.validation"):
        repairs.note(SENDER, ["year"], "announced tracks")
        repairs.note(SENDER, ["title"], "announced tracks")
        repairs.note(SENDER, ["year"], "announced tracks")  # two pairs fit: still remembered
    assert len(caplog.records) == 2
    assert FixLog().capacity == 4096
