"""Turn repository rows into the HTTP models (and build the URLs clients follow)."""

from __future__ import annotations

import uuid

from soundtime.library.repository import AlbumRow, ArtistRow, TrackRow
from soundtime.library.schemas import AlbumOut, AlbumRef, ArtistOut, ArtistRef, TrackOut
from soundtime.models import Album


def album_cover_url(album: Album) -> str | None:
    """Where an album's cover is served, if it has one."""
    return f"/api/albums/{album.id}/cover" if album.cover_hash else None


def stream_url(track_id: uuid.UUID) -> str:
    """Where a track's audio is streamed."""
    return f"/api/tracks/{track_id}/stream"


def track_out(row: TrackRow) -> TrackOut:
    """A track row as the API shows it."""
    track, album = row.track, row.album
    cover = album_cover_url(album) if album else None
    return TrackOut(
        id=track.id,
        title=track.title,
        artist=ArtistRef(id=row.artist.id, name=row.artist.name),
        album=AlbumRef(id=album.id, title=album.title, cover_url=cover) if album else None,
        album_artist=ArtistRef(id=row.album_artist.id, name=row.album_artist.name) if row.album_artist else None,
        track_number=track.track_number,
        disc_number=track.disc_number,
        year=track.year,
        genre=track.genre,
        duration_secs=track.duration_secs,
        format=track.format,
        bitrate_kbps=track.bitrate_kbps,
        sample_rate=track.sample_rate,
        channels=track.channels,
        content_hash=track.content_hash,
        file_size=track.file_size,
        is_local=track.origin_node is None,
        origin_node=track.origin_node,
        uploaded_by=track.uploaded_by,
        created_at=track.created_at,
        stream_url=stream_url(track.id),
        cover_url=cover,
    )


def album_out(row: AlbumRow) -> AlbumOut:
    """An album row as the API shows it."""
    album = row.album
    return AlbumOut(
        id=album.id,
        title=album.title,
        artist=ArtistRef(id=row.artist.id, name=row.artist.name),
        year=album.year,
        genre=album.genre,
        track_count=row.track_count,
        cover_url=album_cover_url(album),
        created_at=album.created_at,
    )


def artist_out(row: ArtistRow) -> ArtistOut:
    """An artist row as the API shows it."""
    return ArtistOut(id=row.artist.id, name=row.artist.name, album_count=row.album_count, track_count=row.track_count)
