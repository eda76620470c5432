"""Library use cases: ingest an uploaded file, read the catalogue, delete a track."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.auth import repository as auth_repo
from soundtime.blobs.store import BlobStore
from soundtime.context import AppContext
from soundtime.kit.db import on_commit
from soundtime.kit.errors import (
    AppError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from soundtime.kit.pagination import Page, decode_cursor, page_of
from soundtime.library import views
from soundtime.library.ingest import discard_prepared, prepare_written, save_prepared
from soundtime.library.removal import remove_track
from soundtime.library.repository import details, lists
from soundtime.library.repository import writes as repo
from soundtime.library.repository.rows import TrackRow
from soundtime.library.schemas import (
    AlbumDetail,
    AlbumOut,
    ArtistDetail,
    ArtistOut,
    FileDefect,
    IngestError,
    TrackOut,
    UploadResult,
)
from soundtime.library.tags import AudioRejected
from soundtime.library.upload import ReceivedFile
from soundtime.models import User

if TYPE_CHECKING:
    from soundtime.p2p.face import Federation

log = logging.getLogger(__name__)

#: HTTP status of each rejection code when a single upload is refused.
REJECTION_STATUS = {
    "too_large": PayloadTooLarge,
    "not_audio": UnsupportedMediaType,
    "unsupported_format": UnsupportedMediaType,
}


def rejection_error(code: str, message: str) -> AppError:
    """The HTTP error for a refused file (413, 415, or 422 for truncated/corrupt/empty audio)."""
    return REJECTION_STATUS.get(code, Unprocessable)(message, code=code)


def _rejected(filename: str, code: str, message: str) -> UploadResult:
    return UploadResult(
        filename=filename,
        status="rejected",
        message=message,
        error=IngestError(code=code, message=message),
    )


async def ingest_received(context: AppContext, received: ReceivedFile, user_id: uuid.UUID) -> UploadResult:
    """Validate, store and record one uploaded file; never raises for a problem with the file itself.

    The uploader is checked inside the saving transaction: no database connection is held while the
    (possibly slow) body arrives.
    """
    try:
        async with context.prepare_slots:
            prepared = await asyncio.to_thread(
                prepare_written, received.writer, received.filename, context.audio, context.blobs
            )
    except AudioRejected as exc:
        return _rejected(received.filename, exc.code, exc.reason)
    except BaseException:
        received.writer.abort()  # e.g. the client left while waiting for a slot: drop the staged bytes
        raise
    try:
        async with context.db.transaction() as session:
            if await auth_repo.get_user(session, user_id) is None:
                raise Unauthorized("account no longer exists", code="invalid_token")
            (outcome,) = await save_prepared(session, [prepared], context.audio, context.blobs, uploaded_by=user_id)
            row = await details.get_track(session, outcome.track_id)
    except BaseException:
        discard_prepared(prepared, context.audio, context.blobs)
        raise
    assert row is not None
    if outcome.status == "duplicate":
        message = "identical audio is already in the library"
    else:
        message = "imported"
        log.info("imported %s as track %s (%s)", received.filename, outcome.track_id, outcome.content_hash)
        if context.p2p is not None:
            context.p2p.tracks_added()
    defects = [FileDefect(code=d.code, message=d.message) for d in prepared.tags.defects]
    return UploadResult(
        filename=received.filename, status=outcome.status, message=message, track=views.track_out(row), defects=defects
    )


# --- reads ---------------------------------------------------------------------------------------------------


async def list_tracks(session: AsyncSession, limit: int, cursor: str | None) -> Page[TrackOut]:
    """Newest tracks first."""
    after = decode_cursor(cursor, datetime, uuid.UUID) if cursor else None
    rows = await lists.list_tracks(session, limit + 1, after)
    return page_of(rows, limit, lambda r: (r.track.created_at, r.track.id), views.track_out)


async def get_track(session: AsyncSession, track_id: uuid.UUID) -> TrackOut:
    """One track; 404 if unknown."""
    row = await details.get_track(session, track_id)
    if row is None:
        raise NotFound("no such track")
    return views.track_out(row)


async def list_albums(session: AsyncSession, limit: int, cursor: str | None) -> Page[AlbumOut]:
    """Albums by title."""
    after = decode_cursor(cursor, str, uuid.UUID) if cursor else None
    rows = await lists.list_albums(session, limit + 1, after)
    return page_of(rows, limit, lambda r: (r.sort_key, r.album.id), views.album_out)


async def get_album(session: AsyncSession, album_id: uuid.UUID) -> AlbumDetail:
    """An album with its tracks; 404 if unknown."""
    row = await details.get_album(session, album_id)
    if row is None:
        raise NotFound("no such album")
    tracks = [views.track_out(t) for t in await details.album_tracks(session, album_id)]
    return AlbumDetail(**views.album_out(row).model_dump(), tracks=tracks)


async def list_artists(session: AsyncSession, limit: int, cursor: str | None) -> Page[ArtistOut]:
    """Artists by name."""
    after = decode_cursor(cursor, str, uuid.UUID) if cursor else None
    rows = await lists.list_artists(session, limit + 1, after)
    return page_of(rows, limit, lambda r: (r.sort_key, r.artist.id), views.artist_out)


#: Tracks an artist's page lists inline; the rest page from ``GET /api/artists/{id}/tracks``.
ARTIST_TRACKS_SHOWN = 50


async def get_artist(session: AsyncSession, artist_id: uuid.UUID) -> ArtistDetail:
    """An artist with their albums and their first :data:`ARTIST_TRACKS_SHOWN` tracks (the next ones:
    :func:`list_artist_tracks` from ``tracks_next_cursor``); 404 if unknown."""
    row = await details.get_artist(session, artist_id)
    if row is None:
        raise NotFound("no such artist")
    albums = [views.album_out(a) for a in await details.albums_of_artist(session, artist_id)]
    tracks = _artist_tracks_page(
        await lists.artist_tracks(session, artist_id, ARTIST_TRACKS_SHOWN + 1), ARTIST_TRACKS_SHOWN
    )
    return ArtistDetail(
        **views.artist_out(row).model_dump(), albums=albums, tracks=tracks.items, tracks_next_cursor=tracks.next_cursor
    )


async def list_artist_tracks(
    session: AsyncSession, artist_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[TrackOut]:
    """The tracks an artist performs, by title; 404 if the artist is unknown."""
    after = decode_cursor(cursor, str, uuid.UUID) if cursor else None
    if not await details.artist_exists(session, artist_id):
        raise NotFound("no such artist")
    return _artist_tracks_page(await lists.artist_tracks(session, artist_id, limit + 1, after), limit)


def _artist_tracks_page(rows: list[tuple[TrackRow, str]], limit: int) -> Page[TrackOut]:
    return page_of(rows, limit, lambda r: (r[1], r[0].track.id), lambda r: views.track_out(r[0]))


# --- deletion ------------------------------------------------------------------------------------------------


async def delete_track(
    session: AsyncSession,
    audio: BlobStore,
    blobs: BlobStore,
    track_id: uuid.UUID,
    user: User,
    *,
    p2p: Federation | None = None,
) -> None:
    """Delete a track (its uploader or an administrator may), with what only it used; once committed, the
    search filter of the p2p node (None when P2P is off) is rebuilt without its words."""
    track = await repo.get_track_entity(session, track_id)
    if track is None:
        raise NotFound("no such track")
    if not user.is_admin and track.uploaded_by != user.id:
        raise Forbidden("only the uploader or an administrator can delete this track")
    if not await remove_track(session, audio, blobs, track):
        raise NotFound("no such track")
    if p2p is not None:
        on_commit(session, p2p.catalogue_changed)
