"""The Bloom filter at its edges: a one-hash filter, the index sequence where it wraps past 2**64 and the prime
modulus, key seeds one byte short or long (mutants bench/mutation.py found alive)."""

from __future__ import annotations

import pytest

from soundtime.p2p.wire import BloomFilterData
from soundtime.search.bloom import BloomFilter, InvalidFilter, check, keys_from_seed, sizing, words

KEYS = ((1, 2), (3, 4))
U64 = 2**64 - 1
PRIME = 0xFFFF_FFFF_FFFF_FFC5  # the largest prime below 2**64


class FixedHashes(BloomFilter):
    """A filter whose terms hash to chosen (h0, h1): the index arithmetic without searching SipHash outputs."""

    __slots__ = ("fixed",)

    def hashes(self, term: str) -> tuple[int, int]:
        return self.fixed


def _set_bits(bloom: BloomFilter) -> list[int]:
    return [j for j in range(bloom.bitmap_bits) if bloom.bitmap[j >> 3] & (0x80 >> (j & 7))]


def test_a_high_false_positive_rate_gives_a_one_hash_filter() -> None:
    assert sizing(1000, 0.6) == (133, 1064, 1)
    assert sizing(1000, 0.5) == (181, 1448, 2)


def test_a_one_hash_filter_sets_and_checks_only_the_first_hash() -> None:
    bloom = BloomFilter(bytearray(64), 1, 512, KEYS)
    for term in ("queen", "bohemian", "rhapsody", "café"):
        bloom.bitmap[:] = bytes(64)
        bloom.add(term)
        h0, _ = bloom.hashes(term)
        assert _set_bits(bloom) == [h0 % 512] == bloom.indices(term)
    only_first = BloomFilter(bytearray(64), 1, 512, KEYS)
    h0, h1 = only_first.hashes("queen")
    assert h0 % 512 != h1 % 512
    only_first.bitmap[(h0 % 512) >> 3] |= 0x80 >> (h0 % 512 & 7)
    assert "queen" in only_first


def test_indices_wrap_at_2_64_then_reduce_by_the_prime() -> None:
    bloom = FixedHashes(bytearray(1), 4, U64, KEYS)
    bloom.fixed = (U64 - 2, 1)  # i = 2: h0 + 2 h1 = 2**64 - 1 (above the prime); i = 3: 2**64 wraps to 0
    assert bloom.indices("any") == [U64 - 2, 1, 58, 0]
    bloom.fixed = (PRIME - 2, 1)  # i = 2: the prime itself reduces to 0
    assert bloom.indices("any")[2:] == [0, 1]


@pytest.mark.parametrize("length", [0, 31, 33])
def test_a_key_seed_must_be_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        keys_from_seed(bytes(length))


def test_a_two_hash_filter_sets_and_checks_both_hashes() -> None:
    bloom = BloomFilter(bytearray(64), 2, 512, KEYS)
    bloom.add("queen")
    h0, h1 = bloom.hashes("queen")
    assert _set_bits(bloom) == sorted({h0 % 512, h1 % 512}) == sorted(bloom.indices("queen"))
    assert "queen" in bloom
    first_only = BloomFilter(bytearray(64), 2, 512, KEYS)
    first_only.bitmap[(h0 % 512) >> 3] |= 0x80 >> (h0 % 512 & 7)
    assert "queen" not in first_only


def test_only_text_can_be_in_a_filter() -> None:
    full = BloomFilter(bytearray(b"\xff" * 64), 3, 512, KEYS)
    assert "anything" in full
    assert 42 not in full
    assert b"anything" not in full


def test_zero_is_a_u64() -> None:
    check(BloomFilterData(bitmap=b"\x01", num_hashes=1, bitmap_bits=8, sip_keys=((0, 0), (0, 0)), item_count=0))


@pytest.mark.parametrize("hashes", [1, 2, 3, 7])
def test_added_terms_set_exactly_their_indices_and_nothing_else(hashes: int) -> None:
    """Every bit position of a byte is met (an index j is byte j // 8, mask 0x80 >> j % 8): no neighbour is set."""
    terms = [f"term{number}" for number in range(300)]
    bloom = BloomFilter(bytearray(512), hashes, 4096, KEYS)
    bloom.add_all(terms)
    expected = sorted({j for term in terms for j in bloom.indices(term)})
    assert {j % 8 for j in expected} == set(range(8))
    assert _set_bits(bloom) == expected
    assert all(term in bloom for term in terms)
    assert bloom.item_count == 300


@pytest.mark.parametrize("hashes", [1, 2, 3, 7])
def test_a_term_missing_any_one_of_its_bits_is_not_in_the_filter(hashes: int) -> None:
    for number in range(40):
        term = f"term{number}"
        probe = BloomFilter(bytearray(64), hashes, 512, KEYS)
        for j in probe.indices(term):
            probe.bitmap[:] = b"\xff" * 64
            probe.bitmap[j >> 3] &= ~(0x80 >> (j & 7)) & 0xFF
            assert term not in probe, (term, j)


def test_a_bitmap_too_small_for_its_bit_count_is_named() -> None:
    data = BloomFilterData(bitmap=bytes(16), num_hashes=3, bitmap_bits=129, sip_keys=KEYS, item_count=0)
    with pytest.raises(InvalidFilter, match=r"^bitmap_bits 129 exceeds the 128 bits of the bitmap$"):
        check(data)


def test_a_one_character_word_is_a_term_exactly_when_it_takes_two_utf8_bytes() -> None:
    assert words("~ \x7f \x80 \xff \u0101") == ["\x80", "\xff", "\u0101"]  # U+007F is the last one-byte character


@pytest.mark.parametrize(("capacity", "rate"), [(0, 0.01), (10, 0.0), (10, 1.0), (10, -0.5)])
def test_sizing_refuses_an_empty_capacity_or_a_rate_outside_0_1(capacity: int, rate: float) -> None:
    with pytest.raises(ValueError, match=r"capacity must be >= 1 and the false-positive rate in \(0, 1\)"):
        sizing(capacity, rate)
