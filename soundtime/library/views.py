"""Turn repository rows into the HTTP models (and build the URLs clients follow)."""

from __future__ import annotations

import uuid
from typing import Any

from soundtime.library.repository.rows import AlbumColumns, AlbumName, AlbumRow, ArtistRow, TrackRow
from soundtime.library.schemas import AlbumOut, ArtistOut, TrackOut


def album_cover_url(album: AlbumName | AlbumColumns) -> str | None:
    """Where an album's cover is served, if it has one."""
    return f"/api/albums/{album.id}/cover" if album.cover_hash else None


def stream_url(track_id: uuid.UUID) -> str:
    """Where a track's audio is streamed."""
    return f"/api/tracks/{track_id}/stream"


def track_fields(row: TrackRow) -> dict[str, Any]:
    """The fields of :class:`TrackOut` for a track row (validated by the model that takes them)."""
    track, album, artist, album_artist = row.track, row.album, row.artist, row.album_artist
    cover = album_cover_url(album) if album is not None else None
    return {
        "id": track.id,
        "title": track.title,
        "artist": {"id": artist.id, "name": artist.name},
        "album": {"id": album.id, "title": album.title, "cover_url": cover} if album is not None else None,
        "album_artist": {"id": album_artist.id, "name": album_artist.name} if album_artist is not None else None,
        "track_number": track.track_number,
        "disc_number": track.disc_number,
        "year": track.year,
        "genre": track.genre,
        "duration_secs": track.duration_secs,
        "format": track.format,
        "bitrate_kbps": track.bitrate_kbps,
        "sample_rate": track.sample_rate,
        "channels": track.channels,
        "content_hash": track.content_hash,
        "file_size": track.file_size,
        "is_local": track.origin_node is None,
        "origin_node": track.origin_node,
        "uploaded_by": track.uploaded_by,
        "created_at": track.created_at,
        "stream_url": stream_url(track.id),
        "cover_url": cover,
    }


def track_out(row: TrackRow) -> TrackOut:
    """A track row as the API shows it."""
    return TrackOut.model_validate(track_fields(row))


def album_out(row: AlbumRow) -> AlbumOut:
    """An album row as the API shows it."""
    album, artist = row.album, row.artist
    return AlbumOut.model_validate(
        {
            "id": album.id,
            "title": album.title,
            "artist": {"id": artist.id, "name": artist.name},
            "year": album.year,
            "genre": album.genre,
            "track_count": row.track_count,
            "cover_url": album_cover_url(album),
            "created_at": album.created_at,
        }
    )


def artist_out(row: ArtistRow) -> ArtistOut:
    """An artist row as the API shows it."""
    return ArtistOut(id=row.artist.id, name=row.artist.name, album_count=row.album_count, track_count=row.track_count)
