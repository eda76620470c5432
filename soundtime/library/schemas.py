"""HTTP models of the library routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ArtistRef(BaseModel):
    """An artist as embedded in other objects."""

    id: uuid.UUID
    name: str


class AlbumRef(BaseModel):
    """An album as embedded in a track."""

    id: uuid.UUID
    title: str
    cover_url: str | None


class TrackOut(BaseModel):
    """A track with what a player and a library view need."""

    id: uuid.UUID
    title: str
    artist: ArtistRef
    album: AlbumRef | None
    album_artist: ArtistRef | None
    track_number: int | None
    disc_number: int | None
    year: int | None
    genre: str | None
    duration_secs: float
    format: str
    bitrate_kbps: int | None
    sample_rate: int | None
    channels: int | None
    content_hash: str = Field(description="BLAKE3 of the audio file bytes (64 hex)")
    file_size: int
    is_local: bool = Field(description="false for tracks replicated from a peer")
    origin_node: str | None
    uploaded_by: uuid.UUID | None
    created_at: datetime
    stream_url: str
    cover_url: str | None


class AlbumOut(BaseModel):
    """An album in a list."""

    id: uuid.UUID
    title: str
    artist: ArtistRef
    year: int | None
    genre: str | None
    track_count: int
    cover_url: str | None
    created_at: datetime


class AlbumDetail(AlbumOut):
    """An album with its tracks in disc and track order."""

    tracks: list[TrackOut]


class ArtistOut(BaseModel):
    """An artist in a list."""

    id: uuid.UUID
    name: str
    album_count: int
    track_count: int


class ArtistDetail(ArtistOut):
    """An artist with their albums and the first 50 tracks they perform, by title (the rest: ``tracks_next_cursor``)."""

    albums: list[AlbumOut]
    tracks: list[TrackOut]
    tracks_next_cursor: str | None = Field(
        description="more tracks: GET /api/artists/{id}/tracks?cursor=…; null when all are listed"
    )


class IngestError(BaseModel):
    """Why a file was not accepted."""

    code: str
    message: str


class FileDefect(BaseModel):
    """Something wrong with a file that was accepted anyway because it plays (e.g. bytes after its audio)."""

    code: str = Field(examples=["trailing_data"])
    message: str = Field(examples=["3,000 bytes after its last MP3 frame are not audio (ignored)"])


class UploadResult(BaseModel):
    """The outcome for one uploaded file."""

    filename: str
    status: Literal["imported", "duplicate", "rejected"]
    message: str
    track: TrackOut | None = None
    error: IngestError | None = None
    defects: list[FileDefect] = Field(
        default_factory=list, description="what is wrong with an accepted file that still plays (empty when nothing)"
    )


class BatchUploadResult(BaseModel):
    """The outcome of a batch upload, per file and in total."""

    imported: int
    duplicates: int
    rejected: int
    results: list[UploadResult]
