"""What a transcode produces: the output formats, their bitrates, and the request that names one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from blake3 import blake3

from soundtime.kit.errors import Unprocessable

#: Bumped whenever the encoder settings change, so cached transcodes made the old way are never served again.
RECIPE_VERSION = 1
#: The standard MPEG-1 Layer III bitrates (kbps); an MP3 request is rounded down to one of them.
MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
#: Opus bitrates are rounded down to a multiple of this (keeps the number of cached variants small).
OPUS_STEP = 8
#: The longest offset accepted (seconds); longer than any track, short enough to stay exact as a float.
MAX_OFFSET = 86_400.0


class Format(StrEnum):
    """An output format of the transcoder."""

    OPUS = "opus"
    MP3 = "mp3"

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` of this output."""
        return "audio/ogg; codecs=opus" if self is Format.OPUS else "audio/mpeg"

    @property
    def bitrates(self) -> tuple[int, int]:
        """The lowest and highest bitrate (kbps) offered in this format."""
        return (16, 256) if self is Format.OPUS else (MP3_BITRATES[0], MP3_BITRATES[-1])

    def round_bitrate(self, kbps: int) -> int:
        """The bitrate actually used for a request of ``kbps`` (clamped into range, rounded down)."""
        low, high = self.bitrates
        kbps = min(max(kbps, low), high)
        if self is Format.OPUS:
            return kbps - kbps % OPUS_STEP
        return max(rate for rate in MP3_BITRATES if rate <= kbps)


@dataclass(frozen=True, slots=True)
class TranscodeOptions:
    """One transcode: the output format, its bitrate in kbps (already rounded) and where to start, in seconds."""

    format: Format
    bitrate_kbps: int
    offset_s: float = 0.0

    @classmethod
    def strict(cls, fmt: Format, bitrate_kbps: int, offset_s: float = 0.0) -> TranscodeOptions:
        """Options from a request that must be in range (the REST route): 422 ``invalid`` otherwise."""
        low, high = fmt.bitrates
        if not low <= bitrate_kbps <= high:
            raise Unprocessable(f"bitrate must be between {low} and {high} kbps for {fmt}", code="invalid_bitrate")
        return cls(fmt, fmt.round_bitrate(bitrate_kbps), _checked_offset(offset_s))

    @classmethod
    def lenient(cls, fmt: Format, max_bitrate_kbps: int, offset_s: float = 0.0) -> TranscodeOptions:
        """Options from a client that names a *maximum* bitrate (Subsonic's ``maxBitRate``): clamped into range."""
        return cls(fmt, fmt.round_bitrate(max_bitrate_kbps), _checked_offset(offset_s))

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` of the output."""
        return self.format.media_type

    def estimated_size(self, duration_s: float) -> int:
        """An upper bound of the bytes a transcode of ``duration_s`` seconds of audio produces (for clients that
        need a ``Content-Length`` before the stream exists, as Subsonic's ``estimateContentLength``).

        MP3 is constant bitrate: bitrate x duration, plus the encoder's delay and padding (at most 2,880 samples,
        0.09 s at 32 kHz), plus 0.5 % for a track length read from tags that is a little short. Opus is
        constrained VBR in Ogg: measured within 2 % of the bitrate on noise (much less on quiet music), plus the
        Ogg pages' headers and the two header packets.
        """
        per_second = self.bitrate_kbps * 125
        if self.format is Format.MP3:
            return math.ceil(per_second * (duration_s * 1.005 + 0.15))
        return math.ceil(per_second * duration_s * 1.04) + 4096

    def cache_key(self, content_hash: str) -> str:
        """The name of this transcode of the audio ``content_hash`` in the transcode cache (64 hex digits).

        A transcode is named by its recipe (source, format, bitrate, encoder settings), not by its own bytes: the
        bytes are only known once it is done, and the recipe is what a request asks for.
        """
        recipe = f"soundtime-transcode/{RECIPE_VERSION}\0{content_hash}\0{self.format}\0{self.bitrate_kbps}"
        return blake3(recipe.encode()).hexdigest()


def _checked_offset(offset_s: float) -> float:
    if not math.isfinite(offset_s) or not 0 <= offset_s <= MAX_OFFSET:
        raise Unprocessable(f"offset must be between 0 and {MAX_OFFSET:.0f} seconds", code="invalid_offset")
    return float(offset_s)
