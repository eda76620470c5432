"""HTTP models of the listener routes: playlists, favourites, ratings, history and the play queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from soundtime.library.schemas import AlbumOut, ArtistOut, TrackOut

#: At most this many entries in one playlist or one saved play queue.
MAX_ENTRIES = 5000

Kind = Literal["track", "album", "artist"]
KindPath = Literal["tracks", "albums", "artists"]
PlaylistName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Comment = Annotated[str, StringConstraints(max_length=2000)]
TrackIdList = Annotated[list[uuid.UUID], Field(max_length=MAX_ENTRIES)]
ClientName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class OwnerRef(BaseModel):
    """Who owns a playlist."""

    id: uuid.UUID
    username: str


class PlaylistOut(BaseModel):
    """A playlist in a list."""

    id: uuid.UUID
    name: str
    comment: str | None
    public: bool
    owner: OwnerRef
    editable: bool = Field(description="true when the signed-in user owns it (and so may change it)")
    track_count: int
    duration_secs: float
    cover_url: str | None = Field(description="the cover of the first entry's album that has one")
    created_at: datetime
    updated_at: datetime


class PlaylistEntryOut(BaseModel):
    """One entry of a playlist; ``index`` is its place (0-based), used to move or remove it."""

    index: int
    track: TrackOut


class PlaylistDetail(PlaylistOut):
    """A playlist with its entries in order."""

    entries: list[PlaylistEntryOut]


class PlaylistCreate(BaseModel):
    """A new playlist, optionally with tracks."""

    model_config = ConfigDict(extra="forbid")

    name: PlaylistName
    comment: Comment | None = None
    public: bool = False
    track_ids: TrackIdList = []


class PlaylistPatch(BaseModel):
    """New values for a playlist's name, comment or visibility (omitted keys keep their value)."""

    model_config = ConfigDict(extra="forbid")

    name: PlaylistName | None = None
    comment: Comment | None = None
    public: bool | None = None


class PlaylistTracks(BaseModel):
    """The whole new order of a playlist's entries (replaces them: reorder, add and remove in one go)."""

    model_config = ConfigDict(extra="forbid")

    track_ids: TrackIdList


class PlaylistInsert(BaseModel):
    """Tracks to add at ``index`` (default: at the end)."""

    model_config = ConfigDict(extra="forbid")

    track_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_ENTRIES)]
    index: Annotated[int, Field(ge=0)] | None = None


class PlaylistMove(BaseModel):
    """Move the entry at ``from_index`` so that it ends up at ``to_index`` (drag and drop)."""

    model_config = ConfigDict(extra="forbid")

    from_index: Annotated[int, Field(ge=0)]
    to_index: Annotated[int, Field(ge=0)]


class M3UImport(BaseModel):
    """An M3U / M3U8 playlist file's text, to become a new playlist."""

    model_config = ConfigDict(extra="forbid")

    name: PlaylistName
    content: Annotated[str, StringConstraints(max_length=900_000)]
    public: bool = False


class M3UImportResult(BaseModel):
    """The new playlist and the entries of the file that matched no track."""

    playlist: PlaylistDetail
    matched: int
    unmatched: list[str] = Field(description="the lines (location or #EXTINF title) of entries that matched nothing")


class AnnotationOut(BaseModel):
    """The signed-in user's marks on a track, album or artist."""

    starred_at: datetime | None
    rating: int | None = Field(description="1..5, or null when not rated")
    play_count: int
    last_played_at: datetime | None


class RatingIn(BaseModel):
    """A rating from 1 to 5 stars; 0 removes the rating."""

    model_config = ConfigDict(extra="forbid")

    rating: Annotated[int, Field(ge=0, le=5)]


class FavouriteTrack(BaseModel):
    """A starred track."""

    starred_at: datetime
    track: TrackOut


class FavouriteAlbum(BaseModel):
    """A starred album."""

    starred_at: datetime
    album: AlbumOut


class FavouriteArtist(BaseModel):
    """A starred artist."""

    starred_at: datetime
    artist: ArtistOut


class PlayIn(BaseModel):
    """A play to record (the browser's player sends one when a track has been listened to)."""

    model_config = ConfigDict(extra="forbid")

    track_id: uuid.UUID
    played_at: datetime | None = Field(None, description="when it was played (default: now; not in the future)")


class PlayOut(BaseModel):
    """One entry of the play history."""

    played_at: datetime
    client: str | None
    track: TrackOut


class MostPlayed(BaseModel):
    """A track with how often the signed-in user played it."""

    play_count: int
    track: TrackOut


class PlayQueueOut(BaseModel):
    """The saved play queue: tracks in order, which one was playing and how far into it."""

    tracks: list[TrackOut]
    current_index: int | None
    position_ms: int
    changed_at: datetime | None
    changed_by: str | None


class PlayQueueIn(BaseModel):
    """The play queue to save (replaces the saved one)."""

    model_config = ConfigDict(extra="forbid")

    track_ids: TrackIdList
    current_index: Annotated[int, Field(ge=0)] | None = None
    position_ms: Annotated[int, Field(ge=0, le=1 << 40)] = 0
    client: ClientName = "web"
