"""The SoundTime-compatible Bloom filter: spec §5 test vectors, sizing, term rules, wire round trip, validation."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from soundtime.p2p import wire
from soundtime.search.bloom import (
    MAX_BITMAP_BYTES,
    BloomFilter,
    InvalidFilter,
    add_terms,
    check,
    keys_from_seed,
    sizing,
    words,
)

SEED = bytes(range(32))
SEED_KEYS = ((506097522914230528, 1084818905618843912), (1663540288323457296, 2242261671028070680))
FIVE_TERMS = ["queen", "bohemian", "rhapsody", "café", "日本"]
FIVE_TERM_BITS = [
    91330, 105240, 116657, 122233, 128673, 187397, 192691, 196570, 207370, 231306, 255242, 281081,
    350202, 350649, 435010, 506244, 523642, 550698, 560543, 574634, 587381, 592968, 605771, 622037,
    628477, 631283, 662720, 663133, 734122, 750926, 839362, 846490, 908884, 912364, 944602,
]  # fmt: skip
GOLDEN = Path(__file__).parents[1] / "p2p" / "golden-frames.jsonl"


def _seeded(capacity: int = 100_000) -> BloomFilter:
    return BloomFilter.create(capacity, random_bytes=lambda n: SEED[:n])


def _set_bits(bloom: BloomFilter) -> list[int]:
    return [j for j in range(bloom.bitmap_bits) if bloom.bitmap[j >> 3] & (0x80 >> (j & 7))]


def _golden_bloom_frame() -> bytes:
    for line in GOLDEN.read_text().splitlines():
        entry = json.loads(line)
        if entry["name"] == "BloomExchange":
            body = entry["json"].encode()
            assert bytes.fromhex(entry["prefix_hex"]) == struct.pack(">I", len(body))
            return bytes.fromhex(entry["prefix_hex"]) + body
    raise AssertionError("no BloomExchange golden frame")


# --- spec vectors ----------------------------------------------------------------------------------------------


def test_keys_from_the_seed_bytes() -> None:
    assert keys_from_seed(SEED) == SEED_KEYS
    assert _seeded().sip_keys == SEED_KEYS


def test_siphash_of_queen() -> None:
    assert _seeded().hashes("queen") == (1860568787747242186, 1847847296712915336)


def test_bits_of_five_terms() -> None:
    bloom = _seeded()
    assert (bloom.bitmap_bits, bloom.num_hashes) == (958_512, 7)
    bloom.add_all(FIVE_TERMS)
    assert _set_bits(bloom) == FIVE_TERM_BITS
    assert sorted(j for term in FIVE_TERMS for j in bloom.indices(term)) == FIVE_TERM_BITS
    assert bloom.item_count == 5
    assert all(term in bloom for term in FIVE_TERMS)


def test_golden_frame_is_read_and_written_bit_for_bit() -> None:
    frame = _golden_bloom_frame()
    message = wire.decode_frame(frame)
    assert isinstance(message, wire.BloomExchange)
    received = BloomFilter.from_wire(message.bloom)
    assert "queen" in received
    assert "rock" in received
    assert "jazz" not in received
    assert received.contains_all(["queen", "rock"])
    assert not received.contains_all(["queen", "jazz"])

    ours = BloomFilter(bytearray(16), 3, 128, ((1, 2), (3, 4)))
    ours.add_all(["queen", "rock"])
    assert wire.encode_frame(wire.BloomExchange(bloom=ours.to_wire())) == frame


# --- sizing ------------------------------------------------------------------------------------------------------


def test_sizing() -> None:
    assert sizing(100_000) == (119_814, 958_512, 7)
    assert sizing(100_000, 0.01)[0] * 8 == sizing(100_000, 0.01)[1]
    size, bits, hashes = sizing(250_000)
    assert size == 299_534
    assert (bits, hashes) == (size * 8, 7)
    assert sizing(1, 0.5) == (1, 8, 6)
    with pytest.raises(ValueError, match="capacity"):
        sizing(0)
    with pytest.raises(ValueError, match="capacity"):
        sizing(10, 1.0)


def test_our_filter_is_sized_by_distinct_terms_with_a_floor() -> None:
    small = BloomFilter.of_terms({"queen", "rock"})
    assert (small.size, small.bitmap_bits, small.num_hashes, small.item_count) == (119_814, 958_512, 7, 2)
    big = BloomFilter.of_terms({f"word{i}" for i in range(150_000)})
    assert big.size == sizing(150_000)[0]
    assert big.item_count == 150_000
    assert all(f"word{i}" in big for i in range(0, 150_000, 997))
    # About 1 % false positives at capacity.
    false_positives = sum(f"other{i}" in big for i in range(20_000))
    assert false_positives < 400


def test_fresh_keys_at_every_build() -> None:
    first, second = BloomFilter.of_terms({"queen"}), BloomFilter.of_terms({"queen"})
    assert first.sip_keys != second.sip_keys
    assert "queen" in first
    assert "queen" in second


# --- terms -------------------------------------------------------------------------------------------------------


def test_terms_are_lower_cased_whitespace_split_words_of_two_bytes() -> None:
    assert words("Café del Mar") == ["café", "del", "mar"]
    assert words("日本 の 歌") == ["日本", "の", "歌"]  # one CJK character is 3 bytes
    assert words("A Night at the Opera") == ["night", "at", "the", "opera"]  # "a" is one byte
    assert words("É") == ["é"]  # one character, two bytes
    assert words("Queen, Rock! AC/DC Blink-182") == ["queen,", "rock!", "ac/dc", "blink-182"]
    assert words("  ÉCOLE\tNORMALE\n") == ["école", "normale"]
    assert words("") == []
    assert words("a b c") == []


def test_terms_split_on_unicode_whitespace_only() -> None:
    assert words("one\u3000two\xa0three\u2003four\x85five\u2028six") == ["one", "two", "three", "four", "five", "six"]
    # Python's str.split() would split on these information separators; Rust's split_whitespace does not.
    assert words("x\x1cy z\x1fw") == ["x\x1cy", "z\x1fw"]
    assert words("zero\u200bwidth") == ["zero\u200bwidth"]  # not White_Space


def test_terms_of_several_texts() -> None:
    terms: set[str] = set()
    add_terms(terms, ["Bohemian Rhapsody", "Queen", None, "A Night at the Opera", ""])
    assert terms == {"bohemian", "rhapsody", "queen", "night", "at", "the", "opera"}


# --- wire ----------------------------------------------------------------------------------------------------------


def test_round_trip_through_the_wire_codec() -> None:
    bloom = BloomFilter.of_terms(set(FIVE_TERMS), random_bytes=lambda n: b"\xff" * n)  # keys above 2**63
    assert bloom.sip_keys == ((2**64 - 1, 2**64 - 1), (2**64 - 1, 2**64 - 1))
    frame = wire.encode_frame(wire.BloomExchange(bloom=bloom.to_wire()))
    assert len(frame) < 430_000
    decoded = wire.decode_frame(frame)
    assert isinstance(decoded, wire.BloomExchange)
    again = BloomFilter.from_wire(decoded.bloom)
    assert again.bitmap == bytes(bloom.bitmap)
    assert (again.num_hashes, again.bitmap_bits, again.sip_keys, again.item_count) == (7, 958_512, bloom.sip_keys, 5)
    assert all(term in again for term in FIVE_TERMS)
    with pytest.raises(TypeError, match="read-only"):
        again.add("more")


# --- validation of received filters ------------------------------------------------------------------------------


def _data(**changes: object) -> wire.BloomFilterData:
    values: dict[str, object] = {
        "bitmap": bytes(16),
        "num_hashes": 3,
        "bitmap_bits": 128,
        "sip_keys": ((1, 2), (3, 4)),
        "item_count": 2,
    }
    values.update(changes)
    return wire.BloomFilterData(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"bitmap_bits": 0}, "bitmap_bits"),
        ({"bitmap_bits": 129}, "exceeds"),
        ({"bitmap_bits": 2**64}, "bitmap_bits"),
        ({"bitmap_bits": -1}, "bitmap_bits"),
        ({"num_hashes": 0}, "num_hashes"),
        ({"num_hashes": 33}, "num_hashes"),
        ({"num_hashes": True}, "num_hashes"),
        ({"bitmap": b""}, "empty"),
        ({"bitmap": bytes(MAX_BITMAP_BYTES + 1), "bitmap_bits": 8}, "at most"),
        ({"sip_keys": ((1, 2), (3, 2**64))}, "sip_keys"),
        ({"sip_keys": ((1, 2), (3, -4))}, "sip_keys"),
        ({"sip_keys": ((1, 2),)}, "sip_keys"),
        ({"item_count": -1}, "item_count"),
        ({"item_count": 2**64}, "item_count"),
    ],
)
def test_poisoned_filters_are_rejected(changes: dict[str, object], reason: str) -> None:
    data = _data(**changes)
    with pytest.raises(InvalidFilter, match=reason):
        check(data)
    with pytest.raises(InvalidFilter):
        BloomFilter.from_wire(data)


def test_acceptable_edge_shapes() -> None:
    check(_data(num_hashes=32, bitmap_bits=1))
    check(_data(bitmap=bytes(MAX_BITMAP_BYTES), bitmap_bits=8 * MAX_BITMAP_BYTES, item_count=2**64 - 1))
    bloom = BloomFilter.from_wire(_data(bitmap=b"\xff" * 16, bitmap_bits=3))
    assert "anything" in bloom


def test_a_poisoned_frame_decodes_but_is_rejected() -> None:
    body = (
        b'{"BloomExchange":{"bloom":{"bitmap":[255],"num_hashes":0,"bitmap_bits":0,'
        b'"sip_keys":[[1,2],[3,4]],"item_count":18446744073709551615}}}'
    )
    message = wire.decode(body)
    assert isinstance(message, wire.BloomExchange)
    with pytest.raises(InvalidFilter):
        BloomFilter.from_wire(message.bloom)
