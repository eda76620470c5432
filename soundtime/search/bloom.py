"""SoundTime's search-routing Bloom filter, bit for bit (spec §5). Pure: no I/O.

A filter holds the *terms* of a library (lower-cased words of titles, artist names and album titles). Hashing
a term: SipHash-1-3 of its UTF-8 bytes plus 0xFF under two 128-bit keys gives h0 and h1; the i-th bit index is
h0, h1, then ((h0 + i·h1) mod 2⁶⁴) mod 0xFFFFFFFFFFFFFFC5, each taken mod ``bitmap_bits``; bit j is byte j // 8
under mask 0x80 >> (j % 8). Generic Bloom packages hash and lay out bits differently, so they cannot interoperate.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections.abc import Callable, Iterable
from typing import Final

from siphash24 import siphash13  # type: ignore[import-not-found]  # ships no type information

from soundtime.p2p.wire import BloomFilterData

#: Defaults of SoundTime: capacity at least 100,000 terms, 1 % false positives.
MIN_CAPACITY: Final = 100_000
FALSE_POSITIVE_RATE: Final = 0.01
MAX_HASHES: Final = 32
#: Largest bitmap we accept from a peer. 1 MiB holds ~875,000 distinct terms at 1 % (7 times the default filter, more
#: than any real library's vocabulary) and, written as a JSON array (≤ 4 bytes a byte), stays inside the 8 MiB frame
#: limit; it also bounds what one peer can make us keep in memory.
MAX_BITMAP_BYTES: Final = 1 << 20

_U64: Final = (1 << 64) - 1
_MODULUS: Final = 0xFFFF_FFFF_FFFF_FFC5  # the largest prime below 2**64
_TERMINATOR: Final = b"\xff"
_KEY = struct.Struct("<QQ")
#: Rust's char::is_whitespace (Unicode White_Space). Python's str.split() also splits on U+001C-U+001F.
_WHITESPACE = re.compile("[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")

SipKeys = tuple[tuple[int, int], tuple[int, int]]


class InvalidFilter(ValueError):
    """A received filter that must not be used (its shape would crash or mislead routing)."""


def sizing(capacity: int, false_positive_rate: float = FALSE_POSITIVE_RATE) -> tuple[int, int, int]:
    """(bytes, bits, hashes) for ``capacity`` items at ``false_positive_rate``, as SoundTime computes them."""
    if capacity < 1 or not 0 < false_positive_rate < 1:
        raise ValueError("capacity must be >= 1 and the false-positive rate in (0, 1)")
    size = math.ceil(capacity * math.log(false_positive_rate) / (-8 * math.log(2) ** 2))
    bits = size * 8
    return size, bits, max(1, math.ceil(bits / capacity * math.log(2)))


def words(text: str) -> list[str]:
    """The terms of one text: lower-cased, split on Unicode whitespace, words of at least 2 UTF-8 bytes."""
    # A one-character word is 2+ bytes exactly when it is not ASCII; longer words always are.
    return [w for w in _WHITESPACE.split(text.lower()) if len(w) > 1 or (w and ord(w) > 0x7F)]


def add_terms(into: set[str], texts: Iterable[str | None]) -> None:
    """Add the terms of every text (None skipped) to ``into``."""
    for text in texts:
        if text:
            into.update(words(text))


def keys_from_seed(seed: bytes) -> SipKeys:
    """Two SipHash keys from 32 bytes: bytes 0-15 and 16-31, each as two little-endian u64."""
    if len(seed) != 32:
        raise ValueError("a key seed is 32 bytes")
    return _KEY.unpack_from(seed, 0), _KEY.unpack_from(seed, 16)


def _key_bytes(key: tuple[int, int]) -> bytes:
    return _KEY.pack(*key)


def _term_bytes(term: str) -> bytes:
    return term.encode("utf-8", "surrogatepass") + _TERMINATOR


class BloomFilter:
    """A SoundTime-compatible Bloom filter; ``bitmap`` is mutable (a bytearray) only for filters we build."""

    __slots__ = ("_key0", "_key1", "bitmap", "bitmap_bits", "item_count", "num_hashes", "sip_keys")

    def __init__(
        self, bitmap: bytes | bytearray, num_hashes: int, bitmap_bits: int, sip_keys: SipKeys, item_count: int = 0
    ) -> None:
        self.bitmap = bitmap
        self.num_hashes = num_hashes
        self.bitmap_bits = bitmap_bits
        self.sip_keys = sip_keys
        self.item_count = item_count
        self._key0 = _key_bytes(sip_keys[0])
        self._key1 = _key_bytes(sip_keys[1])

    @classmethod
    def create(
        cls,
        capacity: int,
        false_positive_rate: float = FALSE_POSITIVE_RATE,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> BloomFilter:
        """An empty filter sized for ``capacity`` items, with fresh keys."""
        size, bits, hashes = sizing(capacity, false_positive_rate)
        return cls(bytearray(size), hashes, bits, keys_from_seed(random_bytes(32)))

    @classmethod
    def of_terms(cls, terms: Iterable[str], *, random_bytes: Callable[[int], bytes] = os.urandom) -> BloomFilter:
        """Our filter for a set of distinct terms: capacity max(len(terms), 100,000), 1 % false positives."""
        unique = terms if isinstance(terms, set | frozenset) else set(terms)
        bloom = cls.create(max(len(unique), MIN_CAPACITY), random_bytes=random_bytes)
        bloom.add_all(unique)
        return bloom

    def hashes(self, term: str) -> tuple[int, int]:
        """(h0, h1) of a term under this filter's keys."""
        data = _term_bytes(term)
        # intdigest() is signed (an i64); the algorithm works on the u64.
        h0: int = siphash13(data, key=self._key0).intdigest() & _U64
        h1: int = siphash13(data, key=self._key1).intdigest() & _U64
        return h0, h1

    def indices(self, term: str) -> list[int]:
        """The bit indices of a term, in hash order."""
        h0, h1 = self.hashes(term)
        m = self.bitmap_bits
        found = [h0 % m, h1 % m][: self.num_hashes]
        found.extend(((h0 + i * h1) & _U64) % _MODULUS % m for i in range(2, self.num_hashes))
        return found

    def add_all(self, terms: Iterable[str]) -> None:
        """Insert terms (the caller passes distinct ones: ``item_count`` counts insertions)."""
        bitmap = self.bitmap
        if not isinstance(bitmap, bytearray):
            raise TypeError("a received filter is read-only")
        m, k, key0, key1 = self.bitmap_bits, self.num_hashes, self._key0, self._key1
        mask, modulus, sip, rounds = _U64, _MODULUS, siphash13, range(k - 2)  # locals: this loop is hot
        count = 0
        for term in terms:
            data = term.encode("utf-8", "surrogatepass") + b"\xff"
            h0 = sip(data, key=key0).intdigest() & mask
            h1 = sip(data, key=key1).intdigest() & mask
            j = h0 % m
            bitmap[j >> 3] |= 0x80 >> (j & 7)
            if k > 1:
                j = h1 % m
                bitmap[j >> 3] |= 0x80 >> (j & 7)
                g = h0 + h1
                for _ in rounds:
                    g += h1
                    j = (g & mask) % modulus % m
                    bitmap[j >> 3] |= 0x80 >> (j & 7)
            count += 1
        self.item_count += count

    def add(self, term: str) -> None:
        """Insert one term."""
        self.add_all((term,))

    def __contains__(self, term: object) -> bool:
        if not isinstance(term, str):
            return False
        bitmap, m, k, mask = self.bitmap, self.bitmap_bits, self.num_hashes, _U64
        data = term.encode("utf-8", "surrogatepass") + b"\xff"
        h0 = siphash13(data, key=self._key0).intdigest() & mask
        j = h0 % m
        if not bitmap[j >> 3] & (0x80 >> (j & 7)):
            return False
        if k > 1:
            h1 = siphash13(data, key=self._key1).intdigest() & mask
            j = h1 % m
            if not bitmap[j >> 3] & (0x80 >> (j & 7)):
                return False
            g = h0 + h1
            for _ in range(k - 2):
                g += h1
                j = (g & mask) % _MODULUS % m
                if not bitmap[j >> 3] & (0x80 >> (j & 7)):
                    return False
        return True

    def contains_all(self, terms: Iterable[str]) -> bool:
        """Whether every term may be in the filter (True for no terms)."""
        return all(term in self for term in terms)

    @property
    def size(self) -> int:
        """Bytes held by the bitmap."""
        return len(self.bitmap)

    def to_wire(self) -> BloomFilterData:
        """The wire form (a copy of the bitmap)."""
        return BloomFilterData(bytes(self.bitmap), self.num_hashes, self.bitmap_bits, self.sip_keys, self.item_count)

    @classmethod
    def from_wire(cls, data: BloomFilterData) -> BloomFilter:
        """A received filter, validated (:class:`InvalidFilter` when it must not be used)."""
        check(data)
        keys = ((data.sip_keys[0][0], data.sip_keys[0][1]), (data.sip_keys[1][0], data.sip_keys[1][1]))
        return cls(bytes(data.bitmap), data.num_hashes, data.bitmap_bits, keys, data.item_count)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_u64(value: object) -> bool:
    return _is_int(value) and 0 <= value <= _U64  # type: ignore[operator]


def check(data: BloomFilterData) -> None:
    """Raise :class:`InvalidFilter` unless a received filter is safe to use (SoundTime checks none of this)."""
    bitmap = data.bitmap
    if not isinstance(bitmap, bytes | bytearray) or not bitmap:
        raise InvalidFilter("the bitmap is empty")
    if len(bitmap) > MAX_BITMAP_BYTES:
        raise InvalidFilter(f"the bitmap has {len(bitmap)} bytes (at most {MAX_BITMAP_BYTES})")
    if not _is_u64(data.bitmap_bits) or data.bitmap_bits == 0:
        raise InvalidFilter("bitmap_bits must be a positive u64")
    if data.bitmap_bits > 8 * len(bitmap):
        raise InvalidFilter(f"bitmap_bits {data.bitmap_bits} exceeds the {8 * len(bitmap)} bits of the bitmap")
    if not _is_int(data.num_hashes) or not 1 <= data.num_hashes <= MAX_HASHES:
        raise InvalidFilter(f"num_hashes must be 1..{MAX_HASHES}")
    keys = data.sip_keys
    if len(keys) != 2 or any(len(pair) != 2 or not all(_is_u64(k) for k in pair) for pair in keys):
        raise InvalidFilter("sip_keys must be two pairs of u64")
    if not _is_u64(data.item_count):
        raise InvalidFilter("item_count must be a u64")
