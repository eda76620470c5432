"""The ``soundtime/p2p/1`` wire codec (spec §2, §3): typed messages, their exact serde_json bytes, and framing.

Pure functions, no I/O (framed and decoded messages are counted by type for ``/metrics``). :func:`encode`
writes what SoundTime's serde_json writes for the same message (compact, fields in declaration order, ``null``
for absent options, f32 as Rust prints an f32, RFC 3339 ``Z`` datetimes).
:func:`decode` accepts what a SoundTime peer accepts and turns every malformed input into :class:`ProtocolError`.
Semantic checks of announcements (lengths, hash shape, …) belong to :mod:`soundtime.p2p.validation`, not here.
"""

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Annotated, Any, Final, Self, TypeAlias

import msgspec
from msgspec.structs import force_setattr

from soundtime.kit import metrics

ALPN: Final = b"soundtime/p2p/1"
MAX_FRAME_SIZE: Final = 8 * 1024 * 1024
PREFIX_SIZE: Final = 4

U8 = Annotated[int, msgspec.Meta(ge=0, le=0xFF)]
I16 = Annotated[int, msgspec.Meta(ge=-(1 << 15), le=(1 << 15) - 1)]
I32 = Annotated[int, msgspec.Meta(ge=-(1 << 31), le=(1 << 31) - 1)]
U32 = Annotated[int, msgspec.Meta(ge=0, le=(1 << 32) - 1)]
I64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
U64 = Annotated[int, msgspec.Meta(ge=0)]  # msgspec cannot bound above int64: see _check_u64
_U64_MAX = (1 << 64) - 1
AwareDateTime = Annotated[datetime, msgspec.Meta(tz=True)]


class ProtocolError(ValueError):
    """A frame that is not a valid message; ``reason`` is short and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_u64(*values: int) -> None:
    """ValueError unless every value fits a u64 (the part of the range msgspec constraints cannot express)."""
    for value in values:
        if value > _U64_MAX:
            raise ValueError(f"{value} does not fit a u64")


# --- f32 -------------------------------------------------------------------------------------------------------
#
# An f32 field holds the float of the value's shortest f32 decimal (0.95, not 0.949999988079071): it rounds to
# exactly the f32 on the wire, and msgspec's own shortest-f64 output of it is that decimal, so encoding needs no
# hook. msgspec lays numbers out like Rust's f64 (plain for exponents -5..15, ``1e20``) and serde_json's f32 uses
# plain for -6..12 and ``1e+20``; values where the two differ are held as :class:`F32`, which the encoder writes
# through :func:`format_f32`.

_FLOAT32 = struct.Struct("<f")
_BITS32 = struct.Struct("<I")
_CACHE_LIMIT = 1 << 14
_CANONICAL: dict[float, float] = {}
#: Per (exponent field, power of two): q, A, B of :func:`_decimal_scale`, filled on first use.
_SCALES: list[tuple[int, int, int] | None] = [None] * 512


class F32(float):
    """An f32 value whose JSON layout differs from msgspec's (exponent -6 or ≥ 13); encoded by the hook."""

    __slots__ = ()


def _f32_bits(value: float) -> int:
    """The bits of ``value`` rounded to the nearest f32 (as Rust's ``f64 as f32``); ValueError unless finite."""
    try:
        bits: int = _BITS32.unpack(_FLOAT32.pack(value))[0]
    except OverflowError:
        raise ValueError(f"{value!r} is outside the f32 range") from None
    except struct.error as exc:
        raise TypeError(f"an f32 field needs a number, not {type(value).__name__}") from exc
    if bits & 0x7F80_0000 == 0x7F80_0000:
        raise ValueError(f"{value!r} is not a finite f32")
    return bits


def _decimal_scale(field: int, irregular: bool) -> tuple[int, int, int]:
    """For the f32 binade with exponent ``field``: q with 10**q ≤ rounding-interval width < 10**(q+1), and A, B with
    A/B = 2**(e-2) / 10**q, where the binade's values are m·2**e (m an integer, 2**e one ulp).

    The interval (one ulp, or 3/4 ulp at a power of two) then spans 1 to 10 units of 10**q, as in Schubfach: its
    shortest decimal is the one multiple of 10 inside, otherwise the nearest unit inside.
    """
    e = max(field, 1) - 150
    width = Fraction(3 if irregular else 4, 4) * Fraction(2) ** e
    q = math.floor(math.log10(width))
    while Fraction(10) ** (q + 1) <= width:
        q += 1
    while Fraction(10) ** q > width:
        q -= 1
    scale = Fraction(2) ** (e - 2) / Fraction(10) ** q
    return q, scale.numerator, scale.denominator


def _shortest(bits: int) -> tuple[int, int]:
    """(k, q) with k·10**q the shortest decimal that rounds to the positive f32 with these bits (k may end in 0s).

    Among equally short candidates the nearest wins (ties to even), which is what Ryu and zmij print.
    """
    field, fraction = bits >> 23, bits & 0x7F_FFFF
    irregular = fraction == 0 and field > 1  # a power of two: the gap below is half the gap above
    slot = 2 * field + irregular
    scale = _SCALES[slot]
    if scale is None:
        scale = _SCALES[slot] = _decimal_scale(field, irregular)
    q, num, den = scale
    v4 = ((fraction | 0x80_0000) if field else fraction) << 2  # the value, in quarter ulps
    low, high = (v4 - (1 if irregular else 2)) * num, (v4 + 2) * num
    if bits & 1:  # odd mantissa: the bounds themselves round away from it
        k_low, k_high = low // den + 1, (high - 1) // den
    else:
        k_low, k_high = -(-low // den), high // den
    k = k_high - k_high % 10
    if k < k_low:  # no shorter candidate: the nearest unit, or its neighbour above on the narrow side
        k, rest = divmod(v4 * num, den)
        if 2 * rest > den or (2 * rest == den and k & 1):
            k += 1
        if k < k_low:
            k += 1
    return k, q


def format_f32(value: float) -> str:
    """``value`` as an f32, written like serde_json (Rust ``zmij``/``ryu`` shortest round-trip digits).

    Plain notation with ``.0`` on whole numbers for decimal exponents -6..12, otherwise ``d.ddde±x``.
    ValueError for NaN, infinities and values outside the f32 range (serde_json would write ``null``).
    """
    bits = _f32_bits(value)
    sign = "-" if bits >> 31 else ""
    if not bits & 0x7FFF_FFFF:
        return sign + "0.0"
    k, q = _shortest(bits & 0x7FFF_FFFF)
    digits = str(k)
    exp = q + len(digits) - 1
    digits = digits.rstrip("0")
    n = len(digits)
    if -6 <= exp <= 12:
        if exp >= n - 1:
            return f"{sign}{digits}{'0' * (exp - n + 1)}.0"
        if exp >= 0:
            return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    mantissa = digits if n == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp)}"


def _f32_field(value: float) -> float:
    """What an f32 field holds for ``value``: the float of its shortest f32 decimal (:class:`F32` if need be)."""
    held = _CANONICAL.get(value)
    if held is not None and value != 0:  # 0.0 and -0.0 share a slot
        return held
    bits = _f32_bits(value)
    held = 0.0
    if magnitude := bits & 0x7FFF_FFFF:
        k, q = _shortest(magnitude)
        held = float(k * 10**q) if q >= 0 else k / 10**-q  # both correctly rounded
    if bits >> 31:
        held = -held
    if 1e-6 <= abs(held) < 1e-5 or abs(held) >= 1e13:
        held = F32(held)
    if len(_CANONICAL) >= _CACHE_LIMIT:
        _CANONICAL.clear()
    _CANONICAL[value] = held
    return held


# --- datetimes -------------------------------------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("a wire datetime must be timezone-aware")
    return dt if dt.tzinfo is UTC else dt.astimezone(UTC)


def format_datetime(dt: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` and no, 3 or 6 fraction digits (chrono's ``AutoSi``); naive → ValueError."""
    u = _utc(dt)
    text = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    us = u.microsecond
    if us == 0:
        return text + "Z"
    if us % 1000 == 0:
        return f"{text}.{us // 1000:03d}Z"
    return f"{text}.{us:06d}Z"


# --- messages --------------------------------------------------------------------------------------------------


class TrackAnnouncement(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One track offered by ``origin_node``; missing optional fields decode as None."""

    hash: str
    title: str
    artist_name: str
    album_artist_name: str | None = None
    album_title: str | None = None
    duration_secs: float
    format: str
    file_size: I64
    genre: str | None = None
    year: I16 | None = None
    track_number: I16 | None = None
    disc_number: I16 | None = None
    bitrate: I32 | None = None
    sample_rate: I32 | None = None
    origin_node: str
    cover_hash: str | None = None

    def __post_init__(self) -> None:
        force_setattr(self, "duration_secs", _f32_field(self.duration_secs))


class SearchResultItem(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One search hit."""

    hash: str
    title: str
    artist_name: str
    album_title: str | None = None
    duration_secs: float
    format: str
    genre: str | None = None
    year: I16 | None = None
    bitrate: I32 | None = None
    source_node: str
    musicbrainz_id: str | None = None
    relevance: float

    def __post_init__(self) -> None:
        force_setattr(self, "duration_secs", _f32_field(self.duration_secs))
        force_setattr(self, "relevance", _f32_field(self.relevance))


class BloomFilterData(msgspec.Struct, frozen=True, gc=False):
    """A peer's search-routing filter (spec §5); ``bitmap`` travels as a JSON array of byte values."""

    bitmap: bytes
    num_hashes: int
    bitmap_bits: int
    sip_keys: tuple[tuple[int, int], tuple[int, int]]
    item_count: int


class Ping(msgspec.Struct, frozen=True, gc=False):
    """Liveness probe; answered with :class:`Pong`."""


class Pong(msgspec.Struct, frozen=True, gc=False):
    """Answer to :class:`Ping`."""

    node_id: str
    track_count: U64
    version: str | None = None

    def __post_init__(self) -> None:
        _check_u64(self.track_count)


class FetchTrack(msgspec.Struct, frozen=True, gc=False):
    """Request for a blob; the reply is binary, not a message."""

    hash: str


class TrackData(msgspec.Struct, frozen=True, gc=False):
    """Declared by SoundTime but never sent; accepted and ignored."""

    hash: str
    size: U64

    def __post_init__(self) -> None:
        _check_u64(self.size)


class AnnounceTrack(msgspec.Struct, frozen=True, gc=False):
    """A single new track (newtype variant: the body is the announcement itself)."""

    track: TrackAnnouncement


class CatalogSync(msgspec.Struct, frozen=True):
    """A page of the sender's catalog (newtype variant: the body is the array)."""

    tracks: list[TrackAnnouncement]


class CatalogDelta(msgspec.Struct, frozen=True):
    """Tracks created or changed after ``since`` (kept in UTC)."""

    since: AwareDateTime
    tracks: list[TrackAnnouncement]

    def __post_init__(self) -> None:
        if self.since.tzinfo is not UTC:
            force_setattr(self, "since", _utc(self.since))


class RequestCatalog(msgspec.Struct, frozen=True, gc=False):
    """Ask the peer to push its catalog to us."""


class PeerExchange(msgspec.Struct, frozen=True, omit_defaults=True):
    """Known node ids. ``addresses`` (id → ``ip:port`` hints) is our extension: omitted when None, ignored by Rust."""

    peers: list[str]
    addresses: dict[str, list[str]] | None = None


class BloomExchange(msgspec.Struct, frozen=True, gc=False):
    """The sender's Bloom filter."""

    bloom: BloomFilterData


class SearchQuery(msgspec.Struct, frozen=True, gc=False):
    """A federated full-text search."""

    request_id: str
    query: str
    limit: U32


class SearchResults(msgspec.Struct, frozen=True):
    """Answer to :class:`SearchQuery`."""

    request_id: str
    results: list[SearchResultItem]
    total: U64

    def __post_init__(self) -> None:
        _check_u64(self.total)


Message: TypeAlias = (
    Ping
    | Pong
    | FetchTrack
    | TrackData
    | AnnounceTrack
    | CatalogSync
    | CatalogDelta
    | RequestCatalog
    | PeerExchange
    | BloomExchange
    | SearchQuery
    | SearchResults
)


class _BloomFilterWire(msgspec.Struct, frozen=True, gc=False):
    bitmap: list[U8]
    num_hashes: U32
    bitmap_bits: U64
    sip_keys: tuple[tuple[U64, U64], tuple[U64, U64]]
    item_count: U64

    def __post_init__(self) -> None:
        _check_u64(self.bitmap_bits, *self.sip_keys[0], *self.sip_keys[1], self.item_count)


class _BloomExchangeWire(msgspec.Struct, frozen=True, gc=False):
    bloom: _BloomFilterWire


class _CatalogDeltaWire(msgspec.Struct, frozen=True):
    since: msgspec.Raw
    tracks: list[TrackAnnouncement]


# --- encoding --------------------------------------------------------------------------------------------------


def _enc_hook(obj: Any) -> Any:
    if type(obj) is F32:
        return msgspec.Raw(format_f32(obj).encode())
    raise TypeError(f"cannot encode {type(obj).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)
_LENGTH = struct.Struct(">I")


def _body_of(msg: Message) -> tuple[bytes, Any, bytes]:
    """(text before, value for msgspec, text after) of ``msg``'s JSON."""
    match msg:
        case Ping() | RequestCatalog():
            return b'"' + type(msg).__name__.encode() + b'"', None, b""
        case AnnounceTrack(track=track):
            return b'{"AnnounceTrack":', track, b"}"
        case CatalogSync(tracks=tracks):
            return b'{"CatalogSync":', tracks, b"}"
        case CatalogDelta(since=since, tracks=tracks):
            raw = msgspec.Raw(b'"' + format_datetime(since).encode() + b'"')
            return b'{"CatalogDelta":', _CatalogDeltaWire(raw, tracks), b"}"
        case BloomExchange(bloom=b):
            wire = _BloomFilterWire(list(b.bitmap), b.num_hashes, b.bitmap_bits, b.sip_keys, b.item_count)
            return b'{"BloomExchange":', _BloomExchangeWire(wire), b"}"
        case Pong() | FetchTrack() | TrackData() | PeerExchange() | SearchQuery() | SearchResults():
            return b'{"' + type(msg).__name__.encode() + b'":', msg, b"}"
    raise TypeError(f"not a wire message: {type(msg).__name__}")


def _write(msg: Message, reserve: int) -> bytearray:
    head, value, tail = _body_of(msg)
    buffer = bytearray(reserve)
    buffer += head
    if value is not None:
        _ENCODER.encode_into(value, buffer, -1)
    buffer += tail
    return buffer


def encode(msg: Message) -> bytes:
    """The JSON body of ``msg``, byte for byte as SoundTime writes it."""
    return bytes(_write(msg, 0))


def _frame(msg: Message) -> bytes:
    buffer = _write(msg, PREFIX_SIZE)
    size = len(buffer) - PREFIX_SIZE
    if size > MAX_FRAME_SIZE:
        raise ValueError(f"a {type(msg).__name__} of {size} bytes exceeds the frame limit")
    _LENGTH.pack_into(buffer, 0, size)
    return bytes(buffer)


@dataclass(frozen=True, slots=True)
class Encoded:
    """A message with its frame, encoded once to be sent many times (our search filter goes unchanged to every
    peer until it is rebuilt: ~240 KB of JSON, over a millisecond to encode)."""

    message: Message
    frame: bytes

    @classmethod
    def of(cls, msg: Message) -> Self:
        """``msg`` encoded (ValueError above :data:`MAX_FRAME_SIZE`)."""
        return cls(msg, _frame(msg))


def encode_frame(msg: Message | Encoded) -> bytes:
    """``msg`` as a frame: 4-byte big-endian length, then the JSON body (ValueError above :data:`MAX_FRAME_SIZE`)."""
    if isinstance(msg, Encoded):
        metrics.message_sent(msg.message)
        return msg.frame
    frame = _frame(msg)
    metrics.message_sent(msg)
    return frame


# --- decoding --------------------------------------------------------------------------------------------------

_WS = b" \t\n\r"
_LEADING_WS = re.compile(rb"[ \t\n\r]*")
_TAG = re.compile(rb'\{[ \t\n\r]*+("(?:[^"\\]|\\.)*+")[ \t\n\r]*+:', re.DOTALL)  # possessive: linear time
_STR = msgspec.json.Decoder(str)
_NULL = msgspec.json.Decoder(None)
_UNITS: dict[str, Message] = {"Ping": Ping(), "RequestCatalog": RequestCatalog()}


def _variant(kind: Any, wrap: Callable[[Any], Message] = lambda body: body) -> Callable[[memoryview], Message]:
    decoder = msgspec.json.Decoder(kind)
    return lambda value: wrap(decoder.decode(value))


def _bloom(wire: _BloomExchangeWire) -> BloomExchange:
    b = wire.bloom
    return BloomExchange(BloomFilterData(bytes(b.bitmap), b.num_hashes, b.bitmap_bits, b.sip_keys, b.item_count))


_VARIANTS: dict[str, Callable[[memoryview], Message]] = {
    "Pong": _variant(Pong),
    "FetchTrack": _variant(FetchTrack),
    "TrackData": _variant(TrackData),
    "AnnounceTrack": _variant(TrackAnnouncement, AnnounceTrack),
    "CatalogSync": _variant(list[TrackAnnouncement], CatalogSync),
    "CatalogDelta": _variant(CatalogDelta),
    "PeerExchange": _variant(PeerExchange),
    "BloomExchange": _variant(_BloomExchangeWire, _bloom),
    "SearchQuery": _variant(SearchQuery),
    "SearchResults": _variant(SearchResults),
}
_DECODE_ERRORS = (msgspec.MsgspecError, ValueError, TypeError, OverflowError, RecursionError)


def _name(text: str) -> str:
    return repr(text[:32]) + ("…" if len(text) > 32 else "")


def _decode(data: bytes, start: int) -> Message:
    end = max(len(data.rstrip(_WS)), start) if data[-1:] in (b" ", b"\t", b"\n", b"\r") else len(data)
    view = memoryview(data)
    first = _LEADING_WS.match(data, start)
    pos = first.end() if first is not None else start
    if pos < end and data[pos] == 0x22:  # a bare string: unit variant
        name = _STR.decode(view[pos:end])
        unit = _UNITS.get(name)
        if unit is None:
            raise ProtocolError(f"{_name(name)} is not a unit variant")
        return unit
    tag = _TAG.match(data, pos, end)
    if tag is None or data[end - 1] != 0x7D:
        raise ProtocolError("expected a variant name or an object with one variant key")
    name = _STR.decode(tag.group(1))
    value = view[tag.end() : end - 1]
    if name in _UNITS:
        _NULL.decode(value)
        return _UNITS[name]
    variant = _VARIANTS.get(name)
    if variant is None:
        raise ProtocolError(f"unknown variant {_name(name)}")
    return variant(value)


def _decode_checked(data: bytes, start: int) -> Message:
    try:
        return _decode(data, start)
    except ProtocolError:
        raise
    except _DECODE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise ProtocolError(reason[:200]) from exc


def decode(body: bytes) -> Message:
    """Parse and validate one JSON body; ProtocolError for anything malformed."""
    message = _decode_checked(bytes(body), 0)
    metrics.message_received(message)
    return message


def frame_length(prefix: bytes, limit: int = MAX_FRAME_SIZE) -> int:
    """The body length a 4-byte prefix declares; ProtocolError when it is not 4 bytes or exceeds ``limit``."""
    if len(prefix) != PREFIX_SIZE:
        raise ProtocolError(f"a length prefix is {PREFIX_SIZE} bytes, got {len(prefix)}")
    size: int = _LENGTH.unpack(prefix)[0]
    if size > limit:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit of {limit}")
    return size


def decode_frame(frame: bytes) -> Message:
    """Decode a whole frame (prefix + body); the prefix must match the body length exactly."""
    frame = bytes(frame)
    size = frame_length(frame[:PREFIX_SIZE])
    if len(frame) - PREFIX_SIZE != size:
        raise ProtocolError(f"frame declares {size} bytes but carries {max(len(frame) - PREFIX_SIZE, 0)}")
    return _decode_checked(frame, PREFIX_SIZE)
