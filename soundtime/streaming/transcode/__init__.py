"""Streaming a track as Opus (in Ogg) or MP3 at a bitrate, from a time offset, as it is encoded (PyAV).

The API for routers (the REST stream route, the Subsonic ``stream`` endpoint)::

    from soundtime.streaming.transcode import Format, TranscodeOptions
    from soundtime.streaming.transcode.http import transcode_response
    from soundtime.streaming.transcode.service import open_transcode

    options = TranscodeOptions.lenient(Format.MP3, max_bitrate_kbps=160, offset_s=42.0)  # clamps (Subsonic)
    options = TranscodeOptions.strict(Format.OPUS, 96)        # 422 ``invalid_bitrate`` out of range (REST)

    return await transcode_response(request, context, track_id, options)   # the whole HTTP answer, or:

    transcoded = await open_transcode(context, track_id, options)
    transcoded.media_type      # "audio/ogg; codecs=opus" or "audio/mpeg"
    transcoded.size            # bytes of a finished (cached) transcode; None while live
    transcoded.duration_s      # seconds of audio (track length minus offset), None if unknown
    async for chunk in transcoded.chunks(): ...     # a live failure mid-way raises ResponseAborted
    await transcoded.aclose()  # always (stops a live transcode and frees its slot at once)

``open_transcode`` returns once the first bytes are encoded (tens of milliseconds), so every error a client can
act on comes before any byte, as an :class:`~soundtime.kit.errors.AppError` whose ``code`` says what happened:
``not_found`` 404, ``dereferenced`` 410, ``offset_past_end`` 422, ``busy`` 503 (all ``TRANSCODE_MAX_CONCURRENT``
slots are taken; ``Retry-After`` set), ``p2p_disabled`` / ``peer_unavailable`` / ``busy`` 503 for a replicated
track no peer can send now, ``transcode_failed`` 500 when the audio does not decode.

Bitrates are rounded down to what the encoders offer (MP3: the standard CBR rates 32 to 320 kbps; Opus: multiples of
8 kbps from 16 to 256, constrained VBR). MP3 keeps a 32/44.1/48 kHz source's rate (others go to 44.1 or 48 kHz),
Opus is always 48 kHz; mono stays mono, more channels are mixed down to stereo. Seeking is sample-exact: the
demuxer seeks to the nearest point before the offset and the samples before it are dropped after decoding.

A transcode from the start, once finished cleanly, is kept in a bounded cache keyed by (track hash, format,
bitrate) and served from there with ranges; one from an offset is never kept. A replicated track is transcoded
from its transfer as the bytes arrive from the peer (and completes only once they are verified).
"""

from soundtime.streaming.transcode.cache import TranscodeCache
from soundtime.streaming.transcode.options import Format, TranscodeOptions
from soundtime.streaming.transcode.pool import (
    CachedTranscode,
    LiveTranscode,
    Transcoded,
    TranscodeFailed,
    Transcoder,
)

__all__ = [
    "CachedTranscode",
    "Format",
    "LiveTranscode",
    "TranscodeCache",
    "TranscodeFailed",
    "TranscodeOptions",
    "Transcoded",
    "Transcoder",
]
