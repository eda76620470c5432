"""HTTP models of search."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from soundtime.library.schemas import AlbumOut, ArtistOut, TrackOut


class RankedTrack(TrackOut):
    """A track with its full-text relevance."""

    relevance: float


class P2PTrack(BaseModel):
    """A hit of a search across peers: ours (``track_id`` set) or a peer's (import it to play it)."""

    hash: str = Field(description="BLAKE3 of the audio file bytes (64 hex)")
    title: str
    artist_name: str
    album_title: str | None
    duration_secs: float
    format: str
    genre: str | None
    year: int | None
    bitrate_kbps: int | None
    relevance: float = Field(description="ranked by this server, on the same scale as local results")
    track_id: uuid.UUID | None = Field(description="the track in this library, None until imported")
    sources: list[str] = Field(description="peers that offered this track's audio in this search")


class P2PResults(BaseModel):
    """Local and peers' hits merged and ranked together, and how the peers answered."""

    results: list[P2PTrack]
    peers_asked: int
    peers_answered: int
    peers_failed: int


class P2PSearchResults(P2PResults):
    """``GET /api/p2p/search``."""

    query: str


class SearchResults(BaseModel):
    """Tracks ranked by relevance (title over artist over album), plus matching albums and artists."""

    query: str
    tracks: list[RankedTrack]
    albums: list[AlbumOut]
    artists: list[ArtistOut]
    p2p: P2PResults | None = Field(None, description="with include_p2p=true: this library and its peers merged")


class ImportIn(BaseModel):
    """A hash from a recent search result."""

    hash: str = Field(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$")
