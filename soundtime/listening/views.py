"""Turn listener rows into the HTTP models (tracks, albums and artists as the library routes show them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.library import views as library_views
from soundtime.library.repository import details as library
from soundtime.library.schemas import AlbumOut, ArtistOut, TrackOut
from soundtime.listening import m3u
from soundtime.listening.repository import PlaylistRow, entry_track_ids
from soundtime.listening.schemas import OwnerRef, PlaylistDetail, PlaylistEntryOut, PlaylistOut


async def tracks_out(session: AsyncSession, track_ids: Sequence[uuid.UUID]) -> list[TrackOut]:
    """The tracks in the order of ``track_ids`` (repeats kept; ids no longer in the library left out)."""
    rows = await library.tracks_by_ids(session, list(set(track_ids)))
    return [library_views.track_out(rows[t]) for t in track_ids if t in rows]


def playlist_out(row: PlaylistRow, viewer_id: uuid.UUID) -> PlaylistOut:
    """A playlist as the list shows it to ``viewer_id``."""
    playlist = row.playlist
    return PlaylistOut(
        id=playlist.id,
        name=playlist.name,
        comment=playlist.comment,
        public=playlist.public,
        owner=OwnerRef(id=playlist.owner_id, username=row.owner_name),
        editable=playlist.owner_id == viewer_id,
        track_count=row.track_count,
        duration_secs=row.duration_secs,
        cover_url=f"/api/albums/{row.cover_album_id}/cover" if row.cover_album_id else None,
        created_at=playlist.created_at,
        updated_at=playlist.updated_at,
    )


async def playlist_detail(session: AsyncSession, row: PlaylistRow, viewer_id: uuid.UUID) -> PlaylistDetail:
    """A playlist with its entries."""
    tracks = await tracks_out(session, await entry_track_ids(session, row.playlist.id))
    entries = [PlaylistEntryOut(index=index, track=track) for index, track in enumerate(tracks)]
    return PlaylistDetail(**playlist_out(row, viewer_id).model_dump(), entries=entries)


def m3u_text(name: str, tracks: Sequence[TrackOut], base_url: str) -> str:
    """An M3U8 file of the tracks; each location is the track's stream URL on this server."""
    base = base_url.rstrip("/")
    entries = (m3u.Entry(t.artist.name, t.title, t.duration_secs, f"{base}{t.stream_url}") for t in tracks)
    return m3u.render(name, entries)


async def albums_out(session: AsyncSession, album_ids: Sequence[uuid.UUID]) -> list[AlbumOut]:
    """The albums in the order of ``album_ids`` (unknown ids left out)."""
    if not album_ids:
        return []
    rows = await library.albums_by_ids(session, list(set(album_ids)))
    return [library_views.album_out(rows[a]) for a in album_ids if a in rows]


async def artists_out(session: AsyncSession, artist_ids: Sequence[uuid.UUID]) -> list[ArtistOut]:
    """The artists in the order of ``artist_ids`` (unknown ids left out)."""
    if not artist_ids:
        return []
    rows = await library.artists_by_ids(session, list(set(artist_ids)))
    return [library_views.artist_out(rows[a]) for a in artist_ids if a in rows]
