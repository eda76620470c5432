"""When a Subsonic ``stream`` is transcoded, and to what: ``format``, ``maxBitRate`` and ``timeOffset``.

The server transcodes only what a client asks for (it keeps no per-player transcoding profiles), so a song's
``transcodedSuffix``/``transcodedContentType`` are never announced: without these parameters a client receives the
file that ``suffix``/``contentType`` describe.

- ``format=raw``: the stored file, always (``timeOffset`` is then ignored: the client seeks with byte ranges).
- ``format=mp3`` or ``format=opus`` (the transcoder's formats): a transcode to it, unless the file already is in
  that format within ``maxBitRate``. Other names (``aac``, ``flv``…) are a preference this server cannot follow.
- ``maxBitRate`` (kbps, 0 = no limit): a transcode when the file's bitrate is higher (or unknown), at that bitrate
  (rounded down to what the encoder offers), to the format asked or ``SUBSONIC_TRANSCODE_FORMAT``.
- ``timeOffset`` (seconds; the ``transcodeOffset`` extension): a transcode starting there, sample-exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from soundtime.streaming.transcode import Format, TranscodeOptions
from soundtime.subsonic.errors import Code, SubsonicError
from soundtime.subsonic.params import Params

#: ``maxBitRate`` values above this are no limit at all (no audio file is near it).
MAX_BITRATE = 100_000
_FORMATS = {"mp3": Format.MP3, "opus": Format.OPUS}


@dataclass(frozen=True, slots=True)
class Defaults:
    """The server's choices when a client names no format or no bitrate."""

    format: Format
    opus_kbps: int
    mp3_kbps: int

    def bitrate(self, fmt: Format) -> int:
        return self.opus_kbps if fmt is Format.OPUS else self.mp3_kbps


@dataclass(frozen=True, slots=True)
class Request:
    """What a ``stream`` call asks about the audio."""

    format: str | None
    max_bitrate_kbps: int
    offset_s: float

    @classmethod
    def parse(cls, params: Params) -> Request:
        """``format``, ``maxBitRate`` and ``timeOffset`` of a call (error 0 for a value that is not a number)."""
        fmt = (params.get("format") or "").strip().lower() or None
        max_bitrate = params.integer("maxBitRate", 0, minimum=0, maximum=MAX_BITRATE)
        return cls(fmt, max_bitrate, _offset(params.get("timeOffset")))


def _offset(raw: str | None) -> float:
    if raw is None or not raw.strip():
        return 0.0
    try:
        value = float(raw.strip())
    except ValueError:
        raise SubsonicError(Code.GENERIC, "parameter timeOffset must be a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise SubsonicError(Code.GENERIC, "parameter timeOffset must be a number of seconds, 0 or more")
    return value


def plan(asked: Request, source_format: str, source_kbps: int | None, defaults: Defaults) -> TranscodeOptions | None:
    """The transcode a ``stream`` call needs, or None to send the stored file."""
    if asked.format == "raw":
        return None
    wanted = _FORMATS.get(asked.format or "")
    same_format = wanted is not None and source_format == wanted.value
    too_rich = asked.max_bitrate_kbps > 0 and (source_kbps is None or source_kbps > asked.max_bitrate_kbps)
    other_format = wanted is not None and not same_format
    if not (too_rich or other_format or asked.offset_s > 0):
        return None
    target = wanted or (Format(source_format) if source_format in _FORMATS else defaults.format)
    if asked.max_bitrate_kbps > 0:
        kbps = asked.max_bitrate_kbps
        if source_format == target.value and source_kbps is not None:
            kbps = min(kbps, source_kbps)  # an offset alone: no richer than the file
    elif source_format == target.value and source_kbps is not None:
        kbps = source_kbps
    else:
        kbps = defaults.bitrate(target)
    return TranscodeOptions.lenient(target, kbps, asked.offset_s)
