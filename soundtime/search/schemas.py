"""HTTP models of search."""

from __future__ import annotations

from pydantic import BaseModel

from soundtime.library.schemas import AlbumOut, ArtistOut, TrackOut


class RankedTrack(TrackOut):
    """A track with its full-text relevance."""

    relevance: float


class SearchResults(BaseModel):
    """Tracks ranked by relevance (title over artist over album), plus matching albums and artists."""

    query: str
    tracks: list[RankedTrack]
    albums: list[AlbumOut]
    artists: list[ArtistOut]
