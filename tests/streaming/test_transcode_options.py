"""What a transcode request means: bitrates offered per format, lenient and strict parsing, cache keys."""

from __future__ import annotations

import math

import pytest

from soundtime.kit.errors import Unprocessable
from soundtime.streaming.transcode import Format, TranscodeOptions

HASH = "ab" * 32


@pytest.mark.parametrize(
    ("fmt", "asked", "used"),
    [
        (Format.MP3, 128, 128),
        (Format.MP3, 150, 128),  # rounded down to a standard MPEG rate
        (Format.MP3, 1, 32),
        (Format.MP3, 999, 320),
        (Format.OPUS, 100, 96),  # a multiple of 8
        (Format.OPUS, 6, 16),
        (Format.OPUS, 320, 256),
    ],
)
def test_a_clients_maximum_bitrate_is_clamped_and_rounded_down(fmt: Format, asked: int, used: int) -> None:
    assert TranscodeOptions.lenient(fmt, asked).bitrate_kbps == used


def test_a_strict_request_outside_the_range_is_refused_with_the_range() -> None:
    with pytest.raises(Unprocessable, match="between 32 and 320 kbps for mp3") as caught:
        TranscodeOptions.strict(Format.MP3, 16)
    assert caught.value.code == "invalid_bitrate"
    assert TranscodeOptions.strict(Format.OPUS, 250).bitrate_kbps == 248


@pytest.mark.parametrize("offset", [-0.5, math.nan, math.inf, 86_401.0])
def test_offsets_must_be_finite_and_sensible(offset: float) -> None:
    with pytest.raises(Unprocessable) as caught:
        TranscodeOptions.lenient(Format.OPUS, 128, offset)
    assert caught.value.code == "invalid_offset"


def test_each_recipe_has_its_own_cache_key() -> None:
    keys = {
        TranscodeOptions(fmt, rate).cache_key(digest)
        for fmt in Format
        for rate in (96, 128)
        for digest in (HASH, "cd" * 32)
    }
    assert len(keys) == 8
    assert all(len(key) == 64 and int(key, 16) >= 0 for key in keys)
    assert TranscodeOptions(Format.MP3, 128).cache_key(HASH) == TranscodeOptions(Format.MP3, 128).cache_key(HASH)


def test_media_types() -> None:
    assert TranscodeOptions(Format.OPUS, 96).media_type == "audio/ogg; codecs=opus"
    assert TranscodeOptions(Format.MP3, 96).media_type == "audio/mpeg"
