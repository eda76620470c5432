"""HTTP routes of the library: upload, browse, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse

from soundtime.auth.dependencies import CheckedClaims, CurrentUser, access_claims
from soundtime.auth.tokens import Claims
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import AppError, BadRequest, PayloadTooLarge
from soundtime.kit.openapi import errors
from soundtime.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from soundtime.library import service
from soundtime.library.schemas import (
    AlbumDetail,
    AlbumOut,
    ArtistDetail,
    ArtistOut,
    BatchUploadResult,
    TrackOut,
    UploadResult,
)
from soundtime.library.upload import ReceivedFile, receive_files

router = APIRouter(tags=["library"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]
UploaderClaims = Annotated[Claims, Depends(access_claims)]
_MULTIPART_OVERHEAD = 64 * 1024
_AUDIO_FILE = {"type": "string", "format": "binary", "description": "the audio file (its name is kept)"}
_ONE_FILE = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": _AUDIO_FILE}, "required": ["file"]},
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
    }
}
_MANY_FILES = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "any number of file fields (any field name) up to UPLOAD_BATCH_MAX_FILES",
                    "properties": {"files": {"type": "array", "items": _AUDIO_FILE, "minItems": 1}},
                    "required": ["files"],
                },
                "encoding": {"files": {"contentType": "application/octet-stream"}},
            }
        },
    }
}


def _check_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"the file is larger than the limit of {limit:,} bytes", code="too_large")


@router.post(
    "/api/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadResult,
    responses={
        200: {"model": UploadResult, "description": "identical audio was already in the library"},
        **errors(
            (400, "no file, several files, or a malformed multipart body"),
            (413, "the file is larger than MAX_UPLOAD_SIZE"),
            (415, "not multipart/form-data, or the file is not audio"),
            (422, "truncated or corrupt audio"),
        ),
    },
    openapi_extra=_ONE_FILE,
    summary="Upload one audio file (multipart field `file`)",
)
async def upload(request: Request, claims: UploaderClaims, context: ContextDep) -> JSONResponse:
    """Add one file; 201 when imported, 200 when identical bytes were already there, 4xx when refused.

    The whole request is read before anything is saved, so a refused request leaves nothing behind.
    """
    limit = context.settings.max_upload_size
    _check_length(request, limit)
    received: ReceivedFile | None = None
    try:
        async for item in receive_files(request, context.audio, max_file_size=limit, max_files=1):
            received = item
    except BaseException:
        if received is not None:
            received.writer.abort()
        raise
    if received is None:
        raise BadRequest("no file in the request (send it as the multipart field `file`)", code="no_file")
    result = await service.ingest_received(context, received, claims.user_id)
    if result.status == "rejected":
        assert result.error is not None
        raise service.rejection_error(result.error.code, result.error.message)
    code = status.HTTP_201_CREATED if result.status == "imported" else status.HTTP_200_OK
    return JSONResponse(result.model_dump(mode="json"), status_code=code)


@router.post(
    "/api/upload/batch",
    responses=errors(
        (400, "no file, or a malformed multipart body"),
        (413, "a file over MAX_UPLOAD_SIZE, or more files than UPLOAD_BATCH_MAX_FILES (details: what was saved)"),
        (415, "not multipart/form-data"),
    ),
    openapi_extra=_MANY_FILES,
    summary="Upload several audio files (multipart, any field name)",
)
async def upload_batch(request: Request, claims: UploaderClaims, context: ContextDep) -> BatchUploadResult:
    """Add many files; each is imported, recognised as a duplicate, or rejected with a reason."""
    settings = context.settings
    results: list[UploadResult] = []
    files = receive_files(
        request,
        context.audio,
        max_file_size=settings.max_upload_size,
        max_files=settings.upload_batch_max_files,
    )
    try:
        async for received in files:  # one by one: a failure later must not hide what was saved
            results.append(await service.ingest_received(context, received, claims.user_id))  # noqa: PERF401
    except AppError as exc:
        # Files before the failure are already in the library: say which.
        exc.details = {"processed": [r.model_dump(mode="json") for r in results]}
        raise
    if not results:
        raise BadRequest("no files in the request", code="no_file")
    return BatchUploadResult(
        imported=sum(r.status == "imported" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )


@router.get("/api/tracks", summary="Tracks, newest first")
async def list_tracks(
    _: CheckedClaims, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[TrackOut]:
    """A page of tracks (keyset-paginated)."""
    return await service.list_tracks(session, limit, cursor)


@router.get("/api/tracks/{track_id}", summary="One track")
async def get_track(track_id: uuid.UUID, _: CheckedClaims, session: SessionDep) -> TrackOut:
    """A track with its artist and album."""
    return await service.get_track(session, track_id)


@router.delete(
    "/api/tracks/{track_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a track (uploader or admin)",
)
async def delete_track(track_id: uuid.UUID, user: CurrentUser, session: SessionDep, context: ContextDep) -> None:
    """Remove the track, its audio, and albums/artists/covers nothing else uses."""
    await service.delete_track(session, context.audio, context.blobs, track_id, user, p2p=context.p2p)


@router.get("/api/albums", summary="Albums by title")
async def list_albums(
    _: CheckedClaims, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[AlbumOut]:
    """A page of albums (keyset-paginated)."""
    return await service.list_albums(session, limit, cursor)


@router.get("/api/albums/{album_id}", summary="One album with its tracks")
async def get_album(album_id: uuid.UUID, _: CheckedClaims, session: SessionDep) -> AlbumDetail:
    """An album and its tracks in disc/track order."""
    return await service.get_album(session, album_id)


@router.get("/api/artists", summary="Artists by name")
async def list_artists(
    _: CheckedClaims, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[ArtistOut]:
    """A page of artists (keyset-paginated)."""
    return await service.list_artists(session, limit, cursor)


@router.get("/api/artists/{artist_id}/tracks", summary="The tracks an artist performs, by title")
async def list_artist_tracks(
    artist_id: uuid.UUID, _: CheckedClaims, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[TrackOut]:
    """A page of the artist's tracks (keyset-paginated); 404 for an unknown artist."""
    return await service.list_artist_tracks(session, artist_id, limit, cursor)


@router.get("/api/artists/{artist_id}", summary="One artist with albums and tracks")
async def get_artist(artist_id: uuid.UUID, _: CheckedClaims, session: SessionDep) -> ArtistDetail:
    """An artist, their albums and their tracks."""
    return await service.get_artist(session, artist_id)
