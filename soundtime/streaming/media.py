"""A blob to serve and how clients may cache it (what the media services hand to the HTTP responses)."""

from __future__ import annotations

from dataclasses import dataclass

from soundtime.blobs.store import BlobStore

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
