"""What a media request serves: which stored blob, how large, of which type, cached how."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.blobs.store import BlobStore
from soundtime.context import AppContext
from soundtime.kit.errors import Gone, NotFound, ServiceUnavailable
from soundtime.library.repository import details
from soundtime.library.repository import writes as repo
from soundtime.models import Cover
from soundtime.p2p import health
from soundtime.p2p.face import RemoteTrack
from soundtime.streaming.media import AUDIO_CACHE, COVER_CACHE, Media

AUDIO_MIME = {
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg; codecs=opus",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "aiff": "audio/aiff",
}


def audio_type(fmt: str) -> str:
    """The media type of audio in this format."""
    return AUDIO_MIME.get(fmt, "application/octet-stream")


@dataclass(frozen=True, slots=True)
class Playable:
    """A track's audio and the facts about it that a player needs."""

    content_hash: str
    duration_secs: float
    audio: Media | RemoteTrack


async def track_audio(session: AsyncSession, context: AppContext, track_id: uuid.UUID) -> Media | RemoteTrack:
    """Where a track's audio comes from: a stored blob (ours, or cached from a peer), or a peer.

    404 for an unknown track, 410 for a dereferenced replicated track, 503 when it must come from a peer and
    federation is disabled.
    """
    return (await playable(session, context, track_id)).audio


async def playable(session: AsyncSession, context: AppContext, track_id: uuid.UUID) -> Playable:
    """A track's audio (see :func:`track_audio`) with its hash and duration."""
    track = await repo.get_track_entity(session, track_id)
    if track is None:
        raise NotFound("no such track")
    audio: Media | RemoteTrack
    if track.file_path is not None:
        audio = Media(context.audio, track.content_hash, track.file_size, audio_type(track.format), AUDIO_CACHE)
        return Playable(track.content_hash, track.duration_secs, audio)
    if await health.state_of(session, track.id) == "dereferenced":
        raise Gone("this track was dereferenced: no peer has been able to provide its audio", code="dereferenced")
    if track.content_hash in context.cache:
        context.cache.touch(track.content_hash)
        store = context.cache.store
        audio = Media(store, track.content_hash, track.file_size, audio_type(track.format), AUDIO_CACHE)
    elif context.p2p is None:
        raise ServiceUnavailable("this track's audio is held by a peer and federation is disabled", code="p2p_disabled")
    else:
        audio = RemoteTrack(
            track.id, track.content_hash, track.file_size, track.format, track.bitrate_kbps, track.sample_rate
        )
    return Playable(track.content_hash, track.duration_secs, audio)


def _cover(blobs: BlobStore, cover: Cover | None) -> Media:
    if cover is None:
        raise NotFound("no cover art", code="no_cover")
    return Media(blobs, cover.hash, cover.size, cover.mime, COVER_CACHE)


async def album_cover(session: AsyncSession, blobs: BlobStore, album_id: uuid.UUID) -> Media:
    """An album's cover image."""
    return _cover(blobs, await details.cover_of_album(session, album_id))


async def track_cover(session: AsyncSession, blobs: BlobStore, track_id: uuid.UUID) -> Media:
    """The cover image of the album a track belongs to."""
    return _cover(blobs, await details.cover_of_track(session, track_id))
