"""What a media request serves: which stored blob, how large, of which type, cached how."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.blobs.store import BlobStore
from soundtime.kit.errors import NotFound
from soundtime.library import repository as repo
from soundtime.models import Cover

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
#: Audio bytes never change for a track id (the id maps to one content hash).
AUDIO_CACHE = "private, max-age=86400"
#: An album may gain a cover later: revalidate sooner.
COVER_CACHE = "private, max-age=300"


@dataclass(frozen=True, slots=True)
class Media:
    """A blob to serve."""

    store: BlobStore
    digest: str
    size: int
    media_type: str
    cache: str


async def track_audio(session: AsyncSession, audio: BlobStore, track_id: uuid.UUID) -> Media:
    """The audio of a track held here; 404 for an unknown track or one whose audio is on a peer."""
    track = await repo.get_track_entity(session, track_id)
    if track is None:
        raise NotFound("no such track")
    if track.file_path is None:
        raise NotFound(
            "this track's audio is held by a peer; remote playback is not available yet", code="audio_remote"
        )
    media_type = AUDIO_MIME.get(track.format, "application/octet-stream")
    return Media(audio, track.content_hash, track.file_size, media_type, AUDIO_CACHE)


def _cover(blobs: BlobStore, cover: Cover | None) -> Media:
    if cover is None:
        raise NotFound("no cover art", code="no_cover")
    return Media(blobs, cover.hash, cover.size, cover.mime, COVER_CACHE)


async def album_cover(session: AsyncSession, blobs: BlobStore, album_id: uuid.UUID) -> Media:
    """An album's cover image."""
    return _cover(blobs, await repo.cover_of_album(session, album_id))


async def track_cover(session: AsyncSession, blobs: BlobStore, track_id: uuid.UUID) -> Media:
    """The cover image of the album a track belongs to."""
    return _cover(blobs, await repo.cover_of_track(session, track_id))
