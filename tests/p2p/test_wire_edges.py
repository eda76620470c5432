"""The wire codec at its edges: a frame of exactly the limit and one byte more, what the encoder refuses and how
it says so, error reasons naming the variant, datetimes whose zone has no offset, f32 layout at the binade edges,
and the bounded f32 cache (mutants bench/mutation.py found alive)."""

from __future__ import annotations

import math
import random
import struct
import typing
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction

import pytest

from soundtime.p2p import wire

HASH = "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"


def fetch_of_body_size(size: int) -> wire.FetchTrack:
    """A FetchTrack whose JSON body is exactly ``size`` bytes."""
    overhead = len(wire.encode(wire.FetchTrack(hash="")))
    return wire.FetchTrack(hash="x" * (size - overhead))


def test_a_frame_of_exactly_the_limit_is_sent_and_read_back() -> None:
    message = fetch_of_body_size(wire.MAX_FRAME_SIZE)
    frame = wire.encode_frame(message)
    assert frame[:4] == wire.MAX_FRAME_SIZE.to_bytes(4, "big")
    assert len(frame) == 4 + wire.MAX_FRAME_SIZE
    assert wire.decode_frame(frame) == message


def test_a_frame_one_byte_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match=f"FetchTrack of {wire.MAX_FRAME_SIZE + 1} bytes exceeds the frame limit"):
        wire.encode_frame(fetch_of_body_size(wire.MAX_FRAME_SIZE + 1))


def test_what_is_not_a_message_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^not a wire message: str$"):
        wire.encode(typing.cast(wire.Message, "Ping"))
    with pytest.raises(TypeError, match=r"^not a wire message: dict$"):
        wire.encode_frame(typing.cast(wire.Message, {"Ping": None}))


def test_a_field_value_json_cannot_hold_is_refused_not_written_as_null() -> None:
    with pytest.raises(TypeError, match="cannot encode object"):
        wire.encode(wire.FetchTrack(hash=typing.cast(str, object())))


def test_an_f32_field_given_text_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="an f32 field needs a number, not str"):
        wire.SearchResultItem(
            hash=HASH,
            title="t",
            artist_name="a",
            duration_secs=typing.cast(float, "3.5"),
            format="flac",
            source_node=HASH,
            relevance=1.0,
        )


class _NoOffset(tzinfo):
    """A zone that does not know its offset (``utcoffset`` None): as good as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_a_datetime_whose_zone_has_no_offset_is_refused_like_a_naive_one() -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=_NoOffset())
    with pytest.raises(ValueError, match="timezone-aware"):
        wire.format_datetime(moment)
    with pytest.raises(ValueError, match="timezone-aware"):
        wire.CatalogDelta(since=moment, tracks=[])
    assert wire.format_datetime(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"Nope":{}}', "unknown variant 'Nope'"),
        (b'{"' + b"V" * 32 + b'":{}}', "unknown variant '" + "V" * 32 + "'"),  # 32 characters: whole
        (b'{"' + b"V" * 33 + b'":{}}', "unknown variant '" + "V" * 32 + "'…"),  # 33: cut, with an ellipsis
        (b'"Pong"', "'Pong' is not a unit variant"),
    ],
)
def test_an_unknown_variant_is_named_in_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(wire.ProtocolError) as caught:
        wire.decode(body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0**-126, "1.1754944e-38"),  # the smallest normal f32: its gap below is as wide as above
        (2.0**-125, "2.3509887e-38"),  # the next power of two: narrower below
        (8388609.0, "8388609.0"),  # ulp 1: the rounding interval is exactly one unit
        (16777215.0, "16777215.0"),
        (2.0**23, "8388608.0"),
        (2.0**24, "16777216.0"),
    ],
)
def test_f32_layout_at_binade_edges(value: float, text: str) -> None:
    assert wire.format_f32(value) == text


def test_the_decade_of_every_binade_is_exact() -> None:
    """For each of the 512 (exponent, power of two) slots: 10**q <= interval width < 10**(q+1) exactly."""
    for field in range(256):
        for irregular in (False, True):
            q, numerator, denominator = wire._decimal_scale(field, irregular)
            width = Fraction(3 if irregular else 4, 4) * Fraction(2) ** (max(field, 1) - 150)
            assert Fraction(10) ** q <= width < Fraction(10) ** (q + 1), (field, irregular)
            assert Fraction(numerator, denominator) == Fraction(2) ** (max(field, 1) - 152) / Fraction(10) ** q


def test_the_f32_cache_is_bounded() -> None:
    """Every distinct f32 value held is remembered up to 16,384 of them; then the cache starts again."""
    wire._CANONICAL.clear()
    limit = 1 << 14
    for number in range(limit - 1):  # limit - 1 durations and one relevance
        wire.SearchResultItem(
            hash=HASH,
            title="t",
            artist_name="a",
            duration_secs=float(number),
            format="flac",
            source_node=HASH,
            relevance=0.5,
        )
    assert len(wire._CANONICAL) == limit
    wire.SearchResultItem(
        hash=HASH, title="t", artist_name="a", duration_secs=0.25, format="flac", source_node=HASH, relevance=0.5
    )  # one more value: the cache starts again with the values of this one message
    assert set(wire._CANONICAL) == {0.25, 0.5}


# --- f32 against an exact oracle ------------------------------------------------------------------------------------


def _f32(bits: int) -> float:
    value: float = struct.unpack("<f", struct.pack("<I", bits))[0]
    return value


def shortest_f32_decimal(bits: int) -> Fraction:
    """The value Rust's shortest round-trip printing gives for a positive finite f32, by brute force in exact
    arithmetic: the fewest significant digits whose decimal rounds back to this f32 (the rounding interval is
    closed when the mantissa is even: ties go to even), and among those the nearest (ties to an even last digit)."""
    value = Fraction(_f32(bits))
    below = Fraction(_f32(bits - 1))
    above = Fraction(_f32(bits + 1)) if bits + 1 < 0x7F80_0000 else value + (value - below)
    low, high = (below + value) / 2, (value + above) / 2
    closed = bits % 2 == 0
    decade = math.floor(math.log10(value))
    while Fraction(10) ** decade > value:
        decade -= 1
    while Fraction(10) ** (decade + 1) <= value:
        decade += 1
    for digits in range(1, 11):
        unit = Fraction(10) ** (decade - digits + 1)
        first, last = math.ceil(low / unit), math.floor(high / unit)
        if not closed:
            first += first * unit == low
            last -= last * unit == high
        if first <= last:
            nearest, rest = divmod(value, unit)
            k = int(nearest) + (rest * 2 > unit or (rest * 2 == unit and int(nearest) % 2 == 1))
            return min(max(k, first), last) * unit
    raise AssertionError("no decimal found")


#: Per binade: both ends, powers of two and their neighbours, odd and even mantissas, and pseudo-random ones; and
#: odd mantissas whose shortest decimal is the first unit above the lower bound (found by a mutant of that bound).
_RANDOM = random.Random(20261203)
F32_SAMPLE = sorted(
    {
        (field << 23) | fraction
        for field in range(255)
        for fraction in (0, 1, 2, 3, 0x40_0000, 0x7F_FFFE, 0x7F_FFFF, *(_RANDOM.getrandbits(23) for _ in range(4)))
        if field or fraction
    }
    | {0x0011_32D9, 0x00C8_DBAD, 0x013F_6A6B}
)


def test_f32_text_is_the_shortest_nearest_decimal_for_every_binade() -> None:
    wrong = []
    for bits in F32_SAMPLE:
        expected = shortest_f32_decimal(bits)
        text = wire.format_f32(_f32(bits))
        negative = wire.format_f32(-_f32(bits))
        if Fraction(text) != expected or negative != "-" + text:
            wrong.append(f"{bits:#010x}: {text} != {float(expected)!r}")
    assert wrong == []


def test_f32_fields_hold_the_double_nearest_the_shortest_decimal() -> None:
    wire._CANONICAL.clear()
    wrong = []
    for bits in F32_SAMPLE:
        value = _f32(bits)
        item = wire.SearchResultItem(
            hash=HASH, title="t", artist_name="a", duration_secs=value, format="flac", source_node=HASH, relevance=0.0
        )
        if item.duration_secs != float(shortest_f32_decimal(bits)):
            wrong.append(f"{bits:#010x}: {item.duration_secs!r}")
    assert wrong == []


def test_a_nan_with_any_payload_is_refused() -> None:
    for payload in (0x7FC0_0000, 0x7FC0_0001, 0xFFC0_0001, 0x7FFF_FFFF):
        nan = struct.unpack("<d", struct.pack("<Q", _as_double_nan(payload)))[0]
        assert struct.unpack("<I", struct.pack("<f", nan))[0] & 0x7FFF_FFFF == payload & 0x7FFF_FFFF
        with pytest.raises(ValueError, match="not a finite f32"):
            wire.format_f32(nan)


def _as_double_nan(f32_bits: int) -> int:
    """The f64 NaN that narrows to the f32 NaN with these bits (sign, and mantissa in the top 23 bits)."""
    return ((f32_bits >> 31) << 63) | (0x7FF << 52) | ((f32_bits & 0x7F_FFFF) << 29)


# --- the rest of the codec's edges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("microsecond", "fraction"), [(999_000, ".999"), (1_000, ".001"), (999_999, ".999999"), (1, ".000001")]
)
def test_datetime_fractions_at_their_edges(microsecond: int, fraction: str) -> None:
    moment = datetime(2024, 5, 1, 12, 0, 59, microsecond, tzinfo=UTC)
    assert wire.format_datetime(moment) == f"2024-05-01T12:00:59{fraction}Z"


def test_the_second_sip_key_pair_is_a_u64_pair_too() -> None:
    body = (
        b'{"BloomExchange":{"bloom":{"bitmap":[1],"num_hashes":1,"bitmap_bits":8,'
        b'"sip_keys":[[1,2],[3,%d]],"item_count":1}}}'
    )
    assert isinstance(wire.decode(body % ((1 << 64) - 1)), wire.BloomExchange)
    with pytest.raises(wire.ProtocolError, match="does not fit a u64"):
        wire.decode(body % (1 << 64))


def test_a_decode_error_reason_is_the_decoders_message() -> None:
    with pytest.raises(wire.ProtocolError) as caught:
        wire.decode(b'{"Pong":{"node_id":1,"track_count":0}}')
    assert caught.value.reason == "Expected `str`, got `int` - at `$.node_id`"


def test_a_long_reason_is_cut_at_200_characters() -> None:
    huge = "9" * 300
    with pytest.raises(wire.ProtocolError) as caught:
        wire.decode(b'{"TrackData":{"hash":"x","size":' + huge.encode() + b"}}")
    assert caught.value.reason == f"{huge} does not fit a u64"[:200]
    assert len(caught.value.reason) == 200


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x00\x00\x00\x06", "frame declares 6 bytes but carries 0"),
        (b'\x00\x00\x00\x06"Pin', "frame declares 6 bytes but carries 4"),
        (b'\x00\x00\x00\x06"Ping" ', "frame declares 6 bytes but carries 7"),
    ],
)
def test_a_frame_whose_length_does_not_match_says_both(frame: bytes, reason: str) -> None:
    with pytest.raises(wire.ProtocolError) as caught:
        wire.decode_frame(frame)
    assert caught.value.reason == reason
