"""Transcoding tracks: finished transcodes from the cache, live ones in bounded worker threads.

:func:`open_transcode` is the entry point for every caller (the REST route, the Subsonic ``stream`` endpoint).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from soundtime.kit import metrics
from soundtime.kit.errors import Unprocessable
from soundtime.p2p.face import RemoteTrack
from soundtime.streaming import service as streaming
from soundtime.streaming.media import Media
from soundtime.streaming.remote import open_download
from soundtime.streaming.transcode.options import TranscodeOptions
from soundtime.streaming.transcode.pool import (
    CachedTranscode,
    SourceAudio,
    Transcoded,
)

if TYPE_CHECKING:
    from soundtime.context import AppContext

log = logging.getLogger(__name__)

#: Replicated tracks in these formats are read seekable even from the start (an MP4's index may be at its end).
_SEEK_TO_PROBE = frozenset({"m4a"})


@dataclass(frozen=True, slots=True)
class _Request:
    playable: streaming.Playable
    duration_s: float | None  # of the output
    key: str | None  # in the cache (None: never cached)


async def _resolve(context: AppContext, track_id: uuid.UUID, options: TranscodeOptions) -> _Request:
    async with context.db.transaction() as session:  # not held while the transcode runs
        playable = await streaming.playable(session, context, track_id)
    length = playable.duration_secs
    if options.offset_s and length and options.offset_s >= length:
        raise Unprocessable(
            f"offset {options.offset_s:g} s is past the end of this {length:g} s track", code="offset_past_end"
        )
    duration = max(0.0, length - options.offset_s) if length else None
    key = options.cache_key(playable.content_hash) if not options.offset_s else None
    return _Request(playable, duration, key)


async def lookup_transcode(
    context: AppContext, track_id: uuid.UUID, options: TranscodeOptions
) -> tuple[CachedTranscode | None, float | None]:
    """(the finished transcode if the cache holds it, the seconds of audio a transcode would have); starts nothing
    (for HEAD requests).

    Raises the errors of :func:`open_transcode` that need no transcode (404, 410, 422, 503 ``p2p_disabled``).
    """
    request = await _resolve(context, track_id, options)
    if request.key is None:
        return None, request.duration_s
    return context.transcoder.cached(request.key, options.media_type, request.duration_s), request.duration_s


async def open_transcode(
    context: AppContext, track_id: uuid.UUID, options: TranscodeOptions, *, use_cache: bool = True
) -> Transcoded:
    """Transcode a track as ``options`` say: from the cache when it holds the result, live otherwise.

    Raises (all :class:`~soundtime.kit.errors.AppError`, in the API's error shape): 404 ``not_found``, 410
    ``dereferenced``, 422 ``offset_past_end``, 503 ``busy`` (every transcode slot taken, ``Retry-After`` set),
    503 ``p2p_disabled`` / ``peer_unavailable`` / ``busy`` for a replicated track no peer can send now, 500
    ``transcode_failed`` when the audio does not decode. Close the result when done with it.
    """
    transcoder = context.transcoder
    request = await _resolve(context, track_id, options)
    if use_cache and request.key is not None:
        cached = transcoder.cached(request.key, options.media_type, request.duration_s)
        if cached is not None:
            transcoder.stats.from_cache += 1
            metrics.transcode_requested(options.format, "cache")
            return cached
    slot = transcoder.reserve(options)
    try:
        source = await _source(context, request.playable.audio, options)
    except BaseException:
        slot.release()
        raise
    return await transcoder.start(slot, source, options, request.key, request.duration_s)


async def _source(context: AppContext, audio: Media | RemoteTrack, options: TranscodeOptions) -> SourceAudio:
    if isinstance(audio, Media):
        return SourceAudio(path=audio.store.path_for(audio.digest))
    download = await open_download(context, audio)
    return SourceAudio(download=download, seekable=bool(options.offset_s) or audio.format in _SEEK_TO_PROBE)
