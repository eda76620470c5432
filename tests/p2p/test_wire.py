"""The wire codec: SoundTime's exact bytes (golden frames), number and datetime layout, and hostile input."""

from __future__ import annotations

import json
import math
import struct
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundtime.kit.metrics import REGISTRY
from soundtime.p2p import wire
from tests.support.soundtime_peer import GOLDEN_TRACK

GOLDEN: list[dict[str, str]] = [
    json.loads(line) for line in (Path(__file__).parent / "golden-frames.jsonl").read_text().splitlines()
]
GOLDEN_FRAMES = [bytes.fromhex(g["prefix_hex"]) + g["json"].encode() for g in GOLDEN]

HASH = "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
COVER = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
NODE_A = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
NODE_B = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
REQUEST = "6f1c2a52-7b1e-4c53-9d0e-2f8b1a0c9e47"

TRACK = GOLDEN_TRACK

EXPECTED: dict[str, wire.Message] = {
    "Ping": wire.Ping(),
    "Pong": wire.Pong(node_id=NODE_A, track_count=42, version="0.1.57"),
    "FetchTrack": wire.FetchTrack(hash=HASH),
    "TrackData": wire.TrackData(hash=HASH, size=38123456),
    "AnnounceTrack": wire.AnnounceTrack(track=TRACK),
    "CatalogSync": wire.CatalogSync(tracks=[TRACK]),
    "CatalogDelta": wire.CatalogDelta(since=datetime(1970, 1, 1, tzinfo=UTC), tracks=[TRACK]),
    "RequestCatalog": wire.RequestCatalog(),
    "PeerExchange": wire.PeerExchange(peers=[NODE_A, NODE_B]),
    "BloomExchange": wire.BloomExchange(
        bloom=wire.BloomFilterData(
            bitmap=bytes([0, 0, 64, 0, 0, 0, 0, 64, 0, 0, 0, 4, 0, 88, 0, 0]),
            num_hashes=3,
            bitmap_bits=128,
            sip_keys=((1, 2), (3, 4)),
            item_count=2,
        )
    ),
    "SearchQuery": wire.SearchQuery(request_id=REQUEST, query="bohemian rhapsody", limit=20),
    "SearchResults": wire.SearchResults(
        request_id=REQUEST,
        results=[
            wire.SearchResultItem(
                hash=HASH,
                title="Bohemian Rhapsody",
                artist_name="Queen",
                album_title="A Night at the Opera",
                duration_secs=354.5,
                format="flac",
                genre="Rock",
                year=1975,
                bitrate=1411,
                source_node=NODE_A,
                musicbrainz_id=None,
                relevance=0.0607927,
            )
        ],
        total=1,
    ),
}


def f32_bits(bits: int) -> float:
    """The f32 with this bit pattern (exact, without a detour through a decimal literal)."""
    value: float = struct.unpack("<f", struct.pack("<I", bits))[0]
    return value


def track_json(**changes: object) -> bytes:
    """The golden AnnounceTrack body with some fields replaced (None deletes a field)."""
    body = json.loads(GOLDEN[4]["json"])["AnnounceTrack"]
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    return b'{"AnnounceTrack":' + json.dumps(body).encode() + b"}"


def with_duration(text: bytes) -> bytes:
    """The golden AnnounceTrack body with ``duration_secs`` written as ``text``."""
    return GOLDEN[4]["json"].encode().replace(b'"duration_secs":354.5', b'"duration_secs":' + text)


# --- golden frames -----------------------------------------------------------------------------------------------


def test_golden_frames_cover_every_variant() -> None:
    assert [g["name"] for g in GOLDEN] == list(EXPECTED)
    assert {type(m) for m in EXPECTED.values()} == set(typing.get_args(wire.Message))


@pytest.mark.parametrize("golden", GOLDEN, ids=[g["name"] for g in GOLDEN])
def test_golden_frame_encodes_exactly(golden: dict[str, str]) -> None:
    message = EXPECTED[golden["name"]]
    body = golden["json"].encode()
    assert wire.encode(message) == body
    assert wire.encode_frame(message) == bytes.fromhex(golden["prefix_hex"]) + body


@pytest.mark.parametrize("golden", GOLDEN, ids=[g["name"] for g in GOLDEN])
def test_golden_frame_decodes_to_the_message(golden: dict[str, str]) -> None:
    body = golden["json"].encode()
    message = wire.decode_frame(bytes.fromhex(golden["prefix_hex"]) + body)
    assert message == EXPECTED[golden["name"]]
    assert type(message) is type(EXPECTED[golden["name"]])
    assert wire.decode(body) == message


def test_bloom_bitmap_is_bytes_in_python() -> None:
    message = wire.decode(GOLDEN[9]["json"].encode())
    assert isinstance(message, wire.BloomExchange)
    assert message.bloom.bitmap == bytes([0, 0, 64, 0, 0, 0, 0, 64, 0, 0, 0, 4, 0, 88, 0, 0])


# --- round trips and layout --------------------------------------------------------------------------------------

#: serde_json's escapes (format_escaped_str): short forms, \u00xx lower case for other controls, nothing else.
SERDE_SHORT = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def serde_escaped(text: str) -> str:
    return "".join(SERDE_SHORT.get(ord(c), f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in text)


def test_strings_are_escaped_like_serde_json() -> None:
    title = "".join(map(chr, range(0x20))) + '"\\/ \x7f\u2028\u2029é日本\U0001f3b5'
    message = wire.FetchTrack(hash=title)
    expected = '{"FetchTrack":{"hash":"' + serde_escaped(title) + '"}}'
    assert wire.encode(message) == expected.encode()
    assert "\\u001f" in expected  # lower-case hex
    assert "\u2028".encode() in wire.encode(message)  # written raw, as serde_json does
    assert wire.decode(wire.encode(message)) == message


def test_every_field_is_written_in_order_with_null() -> None:
    track = wire.TrackAnnouncement(
        hash=HASH, title="t", artist_name="a", duration_secs=1, format="mp3", file_size=0, origin_node=NODE_A
    )
    assert wire.encode(wire.AnnounceTrack(track)) == (
        b'{"AnnounceTrack":{"hash":"' + HASH.encode() + b'","title":"t","artist_name":"a","album_artist_name":null,'
        b'"album_title":null,"duration_secs":1.0,"format":"mp3","file_size":0,"genre":null,"year":null,'
        b'"track_number":null,"disc_number":null,"bitrate":null,"sample_rate":null,"origin_node":"'
        + NODE_A.encode()
        + b'","cover_hash":null}}'
    )


ROUND_TRIPS: list[wire.Message] = [
    wire.Pong(node_id=NODE_A, track_count=(1 << 64) - 1, version=None),
    wire.TrackData(hash="x", size=0),
    wire.AnnounceTrack(
        wire.TrackAnnouncement(
            hash=HASH.upper(),
            title="é" * 1000,
            artist_name="",
            duration_secs=1e20,
            format="FLAC",
            file_size=-(1 << 63),
            year=-32768,
            track_number=32767,
            disc_number=0,
            bitrate=(1 << 31) - 1,
            sample_rate=-(1 << 31),
            origin_node="not a node id",
        )
    ),
    wire.CatalogSync(tracks=[]),
    wire.CatalogDelta(since=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), tracks=[TRACK, TRACK]),
    wire.PeerExchange(peers=[]),
    wire.PeerExchange(peers=[NODE_A], addresses={NODE_A: ["127.0.0.1:4100", "[::1]:4100"]}),
    wire.BloomExchange(wire.BloomFilterData(bytes(range(256)), 7, 2048, (((1 << 64) - 1, 1 << 63), (0, 5)), 9)),
    wire.SearchQuery(request_id="", query='日本 "x"', limit=(1 << 32) - 1),
    wire.SearchResults(request_id=REQUEST, results=[], total=0),
]


@pytest.mark.parametrize("message", ROUND_TRIPS, ids=lambda m: type(m).__name__)
def test_round_trip(message: wire.Message) -> None:
    body = wire.encode(message)
    assert wire.decode(body) == message
    assert wire.encode(wire.decode(body)) == body
    assert wire.decode_frame(wire.encode_frame(message)) == message


def test_a_message_encoded_once_is_sent_as_the_same_frame_and_counted_each_time() -> None:
    message = ROUND_TRIPS[-3]
    assert isinstance(message, wire.BloomExchange)
    encoded = wire.Encoded.of(message)
    before = _sent("BloomExchange")
    frames = [wire.encode_frame(encoded), wire.encode_frame(encoded)]
    assert frames == [wire.encode_frame(message)] * 2
    assert wire.decode_frame(frames[0]) == message
    assert _sent("BloomExchange") - before == 3  # every frame handed out counts as a message sent


def _sent(kind: str) -> float:
    return REGISTRY.get_sample_value("soundtime_p2p_messages_sent_total", {"type": kind}) or 0.0


def test_a_message_too_large_for_a_frame_cannot_be_encoded_once() -> None:
    with pytest.raises(ValueError, match="frame limit"):
        wire.Encoded.of(wire.PeerExchange(peers=["x" * 1000] * 9000))


def test_extension_addresses_are_omitted_when_absent() -> None:
    assert wire.encode(wire.PeerExchange(peers=["a"])) == b'{"PeerExchange":{"peers":["a"]}}'
    assert wire.encode(wire.PeerExchange(peers=["a"], addresses={"a": ["1.2.3.4:5"]})) == (
        b'{"PeerExchange":{"peers":["a"],"addresses":{"a":["1.2.3.4:5"]}}}'
    )


# --- f32 ---------------------------------------------------------------------------------------------------------

#: Expected text from Ryu's / zmij's documented behaviour: shortest digits that round-trip as f32 (nearest on a
#: tie), plain for decimal exponents -6..12 with ".0" on whole numbers, otherwise d.ddde±x (zmij writes the "+").
#: Most values come from Ryu's f2s tests; those whose decimal literal double-rounds through f64 are given as bits.
F32_TABLE = [
    (0.95, "0.95"),
    (354.5, "354.5"),
    (180, "180.0"),
    (0.000015, "0.000015"),
    (1e-6, "0.000001"),
    (1e-7, "1e-7"),
    (1e12, "1000000000000.0"),
    (1e13, "1e+13"),
    (1e20, "1e+20"),
    (1.5e20, "1.5e+20"),
    (-1e20, "-1e+20"),
    (1e-5, "0.00001"),
    (9.999999e-6, "0.000009999999"),
    (-2.5e-6, "-0.0000025"),
    (9.999999e12, "9999999000000.0"),
    (1e-20, "1e-20"),
    (1.234e20, "1.234e+20"),
    (16777216.0, "16777216.0"),
    (3.4028235e38, "3.4028235e+38"),
    (0.0607927, "0.0607927"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (1.0, "1.0"),
    (-1.0, "-1.0"),
    (-1.234e-3, "-0.001234"),
    (2.71828, "2.71828"),
    (1.1e32, "1.1e+32"),
    (1.1e-32, "1.1e-32"),
    (f32_bits(1), "1e-45"),
    (1.1754944e-38, "1.1754944e-38"),
    (3.355445e7, "33554450.0"),
    (9e9, "9000000000.0"),
    (3.436672e10, "34366720000.0"),
    (3.0540412e5, "305404.12"),
    (8.0990312e3, "8099.0312"),
    (2.4414062e-4, "0.00024414062"),
    (4.3945312e-3, "0.0043945312"),
    (4.7223665e21, "4.7223665e+21"),
    (8.388608e6, "8388608.0"),
    (3.3554436e7, "33554436.0"),
    (6.7131496e7, "67131496.0"),
    (1.9310392e-38, "1.9310392e-38"),
    (-2.47e-43, "-2.47e-43"),
    (4.1039004e3, "4103.9004"),
    (5.3399997e9, "5339999700.0"),
    (6.0898e-39, "6.0898e-39"),
    (1.0310042e-3, "0.0010310042"),
    (2.882326e17, "2.882326e+17"),
    (f32_bits(0x15AE43FD), "7.038531e-26"),
    (6.710887e7, "67108870.0"),
    (1e-44, "1e-44"),
    (2.816025e14, "2.816025e+14"),
    (7.812537e-3, "0.007812537"),
    (1.18697725e20, "1.18697725e+20"),
    (1.00014165e-36, "1.00014165e-36"),
    (2e2, "200.0"),
    (3.3554432e7, "33554432.0"),
    (f32_bits(0x5D1502F9), "6.7108864e+17"),
    (f32_bits(0x5D9502F9), "1.3421773e+18"),
    (1.2345678, "1.2345678"),
    (1.23456735e-36, "1.23456735e-36"),
]


@pytest.mark.parametrize(("value", "text"), F32_TABLE, ids=[t for _, t in F32_TABLE])
def test_format_f32(value: float, text: str) -> None:
    assert wire.format_f32(value) == text
    # a TrackAnnouncement written with this duration carries the same text
    track = wire.TrackAnnouncement(
        hash="h", title="t", artist_name="a", duration_secs=value, format="f", file_size=1, origin_node="o"
    )
    assert f'"duration_secs":{text},'.encode() in wire.encode(wire.AnnounceTrack(track))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 3.5e38, -1e39])
def test_f32_rejects_non_finite_and_out_of_range(value: float) -> None:
    with pytest.raises(ValueError, match=r"f32|finite"):
        wire.format_f32(value)
    with pytest.raises(ValueError, match=r"f32|finite"):
        wire.TrackAnnouncement(
            hash="h", title="t", artist_name="a", duration_secs=value, format="f", file_size=1, origin_node="o"
        )


def test_f32_fields_hold_the_shortest_f32_decimal() -> None:
    message = wire.decode(track_json(duration_secs=0.949999988079071))
    assert isinstance(message, wire.AnnounceTrack)
    assert message.track.duration_secs == 0.95
    assert struct.pack("<f", message.track.duration_secs) == struct.pack("<f", 0.95)
    assert b'"duration_secs":0.95,' in wire.encode(message)
    integer = wire.decode(track_json(duration_secs=180))
    assert isinstance(integer, wire.AnnounceTrack)
    assert b'"duration_secs":180.0,' in wire.encode(integer)
    assert wire.format_f32(3.4028235677973362e38) == "3.4028235e+38"  # rounds down to the largest f32


# --- datetimes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00Z"),
        (datetime(2024, 2, 29, 23, 59, 59, 120000, tzinfo=UTC), "2024-02-29T23:59:59.120Z"),
        (datetime(2024, 2, 29, 23, 59, 59, 1000, tzinfo=UTC), "2024-02-29T23:59:59.001Z"),
        (datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC), "2024-02-29T23:59:59.123456Z"),
        (datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=UTC), "2024-02-29T23:59:59.000001Z"),
        (datetime(2024, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))), "2024-02-29T23:30:00Z"),
        (datetime(5, 1, 1, tzinfo=UTC), "0005-01-01T00:00:00Z"),
    ],
)
def test_format_datetime(moment: datetime, text: str) -> None:
    assert wire.format_datetime(moment) == text


def test_format_datetime_rejects_naive() -> None:
    with pytest.raises(ValueError, match="timezone"):
        wire.format_datetime(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("since", "utc"),
    [
        ("2024-03-01T01:30:00+02:00", datetime(2024, 2, 29, 23, 30, tzinfo=UTC)),
        ("2024-03-01T01:30:00.5-00:30", datetime(2024, 3, 1, 2, 0, 0, 500000, tzinfo=UTC)),
        ("2024-03-01T01:30:00.123456789Z", datetime(2024, 3, 1, 1, 30, 0, 123457, tzinfo=UTC)),
    ],
)
def test_datetimes_with_offsets_decode_to_utc(since: str, utc: datetime) -> None:
    message = wire.decode(b'{"CatalogDelta":{"since":"' + since.encode() + b'","tracks":[]}}')
    assert isinstance(message, wire.CatalogDelta)
    assert message.since == utc
    assert message.since.tzinfo is UTC
    expected = '{"CatalogDelta":{"since":"' + wire.format_datetime(utc) + '","tracks":[]}}'
    assert wire.encode(message) == expected.encode()


# --- tolerated input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"Ping":null}', wire.Ping()),
        (b' \r\n\t{ "RequestCatalog" :\tnull }\n', wire.RequestCatalog()),
        (b' "Ping" ', wire.Ping()),
        (b'{"Pong":{"node_id":"n","track_count":0}}', wire.Pong(node_id="n", track_count=0, version=None)),
        (b'{"Pong":{"node_id":"n","track_count":7,"version":"v","extra":[{"deep":[1,2,{}]}]}}', wire.Pong("n", 7, "v")),
        (b'{"P\\u006fng":{"node_id":"n","track_count":1,"version":null}}', wire.Pong("n", 1, None)),
        (b'{"FetchTrack":{"size":5,"hash":"ABC","\xc3\xa9":{}}}', wire.FetchTrack(hash="ABC")),
        (b'{"SearchQuery":{"limit":0,"query":"q","request_id":"r"}}', wire.SearchQuery("r", "q", 0)),
    ],
)
def test_tolerated_input(body: bytes, expected: wire.Message) -> None:
    assert wire.decode(body) == expected


def test_missing_optional_fields_and_extra_fields() -> None:
    body = track_json(album_artist_name=None, genre=None, year=None, cover_hash=None, signature="ed25519:...")
    message = wire.decode(body)
    assert isinstance(message, wire.AnnounceTrack)
    assert message.track.album_artist_name is None
    assert message.track.genre is None
    assert message.track.year is None
    assert message.track.cover_hash is None
    assert message.track.title == "Bohemian Rhapsody"


def test_semantic_limits_are_not_the_codecs_job() -> None:
    message = wire.decode(track_json(title="x" * 1000, hash=HASH.upper(), format="WAV!", origin_node="?"))
    assert isinstance(message, wire.AnnounceTrack)
    assert message.track.title == "x" * 1000
    assert message.track.hash == HASH.upper()


# --- rejected input ----------------------------------------------------------------------------------------------

DEPTH_BOMB = b"[" * 100_000 + b"]" * 100_000

REJECTED = {
    "empty": b"",
    "whitespace": b" \n",
    "invalid JSON": b'{"Ping":nul}',
    "unterminated": b'{"Pong":{"node_id":"n"',
    "invalid UTF-8 in value": b'{"FetchTrack":{"hash":"\xff\xfe"}}',
    "invalid UTF-8 in key": b'{"Fetch\xc3Track":{"hash":"h"}}',
    "lone surrogate": b'{"FetchTrack":{"hash":"\\ud800"}}',
    "raw control char": b'{"FetchTrack":{"hash":"a\x01"}}',
    "unknown variant": b'"Pang"',
    "unknown tagged variant": b'{"Pang":null}',
    "lower-case unit": b'"ping"',
    "lower-case tag": b'{"ping":null}',
    "docs name": b'{"BloomFilterExchange":{}}',
    "two keys": b'{"Ping":null,"RequestCatalog":null}',
    "duplicate key": b'{"Ping":null,"Ping":null}',
    "no key": b"{}",
    "struct variant as string": b'"Pong"',
    "unit with a body": b'{"Ping":{}}',
    "array": b'["Ping"]',
    "number": b"1",
    "null": b"null",
    "trailing garbage": b'"Ping"x',
    "trailing object garbage": b'{"Ping":null}}',
    "missing field": b'{"Pong":{"track_count":1}}',
    "missing track field": track_json(hash=None),
    "year 40000": track_json(year=40000),
    "year -40000": track_json(year=-40000),
    "file_size above i64": track_json(file_size=1 << 63),
    "bitrate above i32": track_json(bitrate=1 << 31),
    "negative u64": b'{"Pong":{"node_id":"n","track_count":-1}}',
    "u64 overflow": b'{"Pong":{"node_id":"n","track_count":18446744073709551616}}',
    "u32 overflow": b'{"SearchQuery":{"request_id":"r","query":"q","limit":4294967296}}',
    "float for int": b'{"Pong":{"node_id":"n","track_count":1.0}}',
    "exponent for int": b'{"Pong":{"node_id":"n","track_count":1e3}}',
    "float year": track_json(year=1975.0),
    "bool for int": b'{"Pong":{"node_id":"n","track_count":true}}',
    "string for int": b'{"Pong":{"node_id":"n","track_count":"1"}}',
    "int for string": b'{"FetchTrack":{"hash":1}}',
    "null tracks": b'{"CatalogSync":null}',
    "object for tracks": b'{"CatalogSync":{"tracks":[]}}',
    "string peers": b'{"PeerExchange":{"peers":"a,b"}}',
    "bitmap 256": b'{"BloomExchange":{"bloom":{"bitmap":[0,256],"num_hashes":1,"bitmap_bits":8,'
    b'"sip_keys":[[1,2],[3,4]],"item_count":0}}}',
    "bitmap -1": b'{"BloomExchange":{"bloom":{"bitmap":[-1],"num_hashes":1,"bitmap_bits":8,'
    b'"sip_keys":[[1,2],[3,4]],"item_count":0}}}',
    "bitmap base64": b'{"BloomExchange":{"bloom":{"bitmap":"AAAA","num_hashes":1,"bitmap_bits":8,'
    b'"sip_keys":[[1,2],[3,4]],"item_count":0}}}',
    "three sip keys": b'{"BloomExchange":{"bloom":{"bitmap":[],"num_hashes":1,"bitmap_bits":8,'
    b'"sip_keys":[[1,2],[3,4],[5,6]],"item_count":0}}}',
    "sip key triple": b'{"BloomExchange":{"bloom":{"bitmap":[],"num_hashes":1,"bitmap_bits":8,'
    b'"sip_keys":[[1,2,3],[3,4]],"item_count":0}}}',
    "sip key above u64": b'{"BloomExchange":{"bloom":{"bitmap":[],"num_hashes":1,"bitmap_bits":8,'
    b'"sip_keys":[[18446744073709551616,2],[3,4]],"item_count":0}}}',
    "num_hashes above u32": b'{"BloomExchange":{"bloom":{"bitmap":[],"num_hashes":4294967296,"bitmap_bits":8,'
    b'"sip_keys":[[1,2],[3,4]],"item_count":0}}}',
    "NaN literal": with_duration(b"NaN"),
    "NaN string": with_duration(b'"NaN"'),
    "Infinity": with_duration(b"Infinity"),
    "-Infinity": with_duration(b"-Infinity"),
    "1e400": with_duration(b"1e400"),
    "above f32": with_duration(b"3.5e38"),
    "below -f32": with_duration(b"-1e39"),
    "null f32": with_duration(b"null"),
    "garbage datetime": b'{"CatalogDelta":{"since":"yesterday","tracks":[]}}',
    "naive datetime": b'{"CatalogDelta":{"since":"2024-01-01T00:00:00","tracks":[]}}',
    "month 13": b'{"CatalogDelta":{"since":"2024-13-01T00:00:00Z","tracks":[]}}',
    "datetime overflow": b'{"CatalogDelta":{"since":"0001-01-01T00:00:00+01:00","tracks":[]}}',
    "depth bomb in unknown field": b'{"Pong":{"node_id":"n","track_count":1,"x":' + DEPTH_BOMB + b"}}",
    "depth bomb as body": b'{"CatalogSync":' + DEPTH_BOMB + b"}",
    "object depth bomb": b'{"Pong":{"x":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}}",
    "huge integer": b'{"Pong":{"node_id":"n","track_count":' + b"9" * 10_000 + b"}}",
}


@pytest.mark.parametrize("body", REJECTED.values(), ids=REJECTED.keys())
def test_malformed_bodies_raise_protocol_error(body: bytes) -> None:
    with pytest.raises(wire.ProtocolError) as caught:
        wire.decode(body)
    assert caught.value.reason
    assert len(caught.value.reason) <= 200
    frame = len(body).to_bytes(4, "big") + body
    with pytest.raises(wire.ProtocolError):
        wire.decode_frame(frame)


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(wire.ProtocolError, ValueError)


def test_frame_length() -> None:
    assert wire.frame_length(b"\x00\x00\x00\x06") == 6
    assert wire.frame_length((8 << 20).to_bytes(4, "big")) == wire.MAX_FRAME_SIZE
    assert wire.frame_length(b"\x00\x00\x01\x00", limit=256) == 256
    with pytest.raises(wire.ProtocolError, match="exceeds"):
        wire.frame_length(((8 << 20) + 1).to_bytes(4, "big"))
    with pytest.raises(wire.ProtocolError, match="exceeds"):
        wire.frame_length(b"\xff\xff\xff\xff")
    with pytest.raises(wire.ProtocolError, match="exceeds"):
        wire.frame_length(b"\x00\x00\x01\x01", limit=256)
    with pytest.raises(wire.ProtocolError, match="4 bytes"):
        wire.frame_length(b"\x00\x00\x06")


@pytest.mark.parametrize(
    "frame",
    [
        GOLDEN_FRAMES[1][:-1],  # truncated body
        GOLDEN_FRAMES[1] + b" ",  # longer than declared
        GOLDEN_FRAMES[1][:3],  # truncated prefix
        b"",
        b"\x00\x00\x00\x00",
        b"\x7f\xff\xff\xff" + b'"Ping"',  # over the limit
    ],
)
def test_bad_frames_raise_protocol_error(frame: bytes) -> None:
    with pytest.raises(wire.ProtocolError):
        wire.decode_frame(frame)


def test_constants() -> None:
    assert wire.ALPN == b"soundtime/p2p/1"
    assert len(wire.ALPN) == 15
    assert wire.MAX_FRAME_SIZE == 8 * 1024 * 1024
    assert wire.PREFIX_SIZE == 4


def test_encoding_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="frame limit"):
        wire.encode_frame(wire.PeerExchange(peers=["x" * 1000] * 9000))
    with pytest.raises(ValueError, match="timezone"):
        wire.CatalogDelta(since=datetime(2024, 1, 1), tracks=[])
    with pytest.raises(TypeError):
        wire.encode(typing.cast(wire.Message, "Ping"))


# --- hostile input, generated ------------------------------------------------------------------------------------

TOKENS = [b"[", b"]", b"{", b"}", b'"', b"\\", b":", b",", b"\xff", b"\xc3", b"null", b"1e999", b"-", b"1.0", b"\x00"]


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    """A golden body with a few byte flips, deletions, insertions or a truncation."""
    data = bytearray(draw(st.sampled_from(GOLDEN))["json"].encode())
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["flip", "truncate", "insert", "delete"])):
            case "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            case "truncate":
                del data[at:]
            case "insert":
                data[at:at] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8)))
            case _:
                del data[at]
    return bytes(data)


def only_protocol_errors(decoder: Callable[[bytes], wire.Message], data: bytes) -> None:
    try:
        message = decoder(data)
    except wire.ProtocolError:
        return
    assert isinstance(message, typing.get_args(wire.Message))


@settings(max_examples=400, deadline=None, database=None)
@given(mutated_bodies())
def test_mutated_golden_frames_raise_only_protocol_error(body: bytes) -> None:
    only_protocol_errors(wire.decode, body)
    only_protocol_errors(wire.decode_frame, len(body).to_bytes(4, "big") + body)


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_error(data: bytes) -> None:
    only_protocol_errors(wire.decode, data)
    only_protocol_errors(wire.decode_frame, data)
    only_protocol_errors(wire.decode_frame, len(data).to_bytes(4, "big") + data)
