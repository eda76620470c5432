"""HTTP routes of the listener features: /api/playlists, /api/favourites, /api/ratings, /api/annotations,
/api/history and /api/play-queue. Everything is the signed-in user's own (public playlists excepted)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.auth.dependencies import CurrentUser
from soundtime.context import SessionDep
from soundtime.kit.openapi import errors
from soundtime.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from soundtime.listening import favourites, history, playlists, queue, views
from soundtime.listening import repository as repo
from soundtime.listening.schemas import (
    AnnotationOut,
    FavouriteAlbum,
    FavouriteArtist,
    FavouriteTrack,
    KindPath,
    M3UImport,
    M3UImportResult,
    MostPlayed,
    PlayIn,
    PlaylistCreate,
    PlaylistDetail,
    PlaylistInsert,
    PlaylistMove,
    PlaylistOut,
    PlaylistPatch,
    PlaylistTracks,
    PlayOut,
    PlayQueueIn,
    PlayQueueOut,
    RatingIn,
)

router = APIRouter(tags=["listening"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]
PlaylistId = Annotated[uuid.UUID, Path(description="the playlist's id")]
KINDS: dict[str, repo.Kind] = {"tracks": "track", "albums": "album", "artists": "artist"}
F = TypeVar("F")


# --- playlists -----------------------------------------------------------------------------------------------


async def _detail(session: SessionDep, user_id: uuid.UUID, playlist_id: uuid.UUID) -> PlaylistDetail:
    return await views.playlist_detail(session, await playlists.readable(session, user_id, playlist_id), user_id)


@router.get("/api/playlists", summary="Playlists: your own and everyone's public ones, by name")
async def list_playlists(
    user: CurrentUser,
    session: SessionDep,
    mine: Annotated[bool, Query(description="only your own playlists")] = False,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[PlaylistOut]:
    """A page of the playlists you can open (keyset-paginated by name)."""
    after = decode_cursor(cursor, str, uuid.UUID) if cursor else None
    rows = await repo.visible_playlists(session, user.id, limit + 1, after, owner_id=user.id if mine else None)
    shown = rows[:limit]
    next_cursor = encode_cursor(shown[-1].sort_key, shown[-1].playlist.id) if len(rows) > limit else None
    return Page(items=[views.playlist_out(row, user.id) for row in shown], next_cursor=next_cursor)


@router.post(
    "/api/playlists",
    status_code=status.HTTP_201_CREATED,
    summary="Create a playlist",
    responses=errors(409, (422, "invalid body, unknown track ids or more than 5,000 entries")),
)
async def create_playlist(body: PlaylistCreate, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    """A new playlist (private unless ``public``), optionally filled with tracks; at most 1,000 per user."""
    playlist = await playlists.create(
        session, user.id, body.name, comment=body.comment, public=body.public, track_ids=body.track_ids
    )
    return await _detail(session, user.id, playlist.id)


@router.post(
    "/api/playlists/import",
    status_code=status.HTTP_201_CREATED,
    summary="Create a playlist from an M3U/M3U8 file",
    responses=errors(409, 422),
)
async def import_playlist(body: M3UImport, user: CurrentUser, session: SessionDep) -> M3UImportResult:
    """Entries are matched to tracks by the track id in their location (files exported here), else by
    "Artist - Title" of their ``#EXTINF`` line or file name (case-insensitive); unmatched entries are listed."""
    playlist, matched, unmatched = await playlists.import_m3u(
        session, user.id, body.name, body.content, public=body.public
    )
    detail = await _detail(session, user.id, playlist.id)
    return M3UImportResult(playlist=detail, matched=matched, unmatched=unmatched)


@router.get("/api/playlists/{playlist_id}", summary="A playlist with its entries", responses=errors(404))
async def get_playlist(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep) -> PlaylistDetail:
    """Your playlist, or someone's public one (another user's private playlist is a 404)."""
    return await _detail(session, user.id, playlist_id)


@router.patch(
    "/api/playlists/{playlist_id}",
    summary="Rename a playlist, change its comment or make it public/private",
    responses=errors((403, "the playlist is someone else's"), 404, 422),
)
async def patch_playlist(
    playlist_id: PlaylistId, body: PlaylistPatch, user: CurrentUser, session: SessionDep
) -> PlaylistDetail:
    """Omitted keys keep their value; an empty comment removes it. Only the owner may change a playlist."""
    await playlists.update(session, user.id, playlist_id, name=body.name, comment=body.comment, public=body.public)
    return await _detail(session, user.id, playlist_id)


@router.delete(
    "/api/playlists/{playlist_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a playlist",
    responses=errors((403, "the playlist is someone else's"), 404),
)
async def delete_playlist(playlist_id: PlaylistId, user: CurrentUser, session: SessionDep) -> None:
    """Remove the playlist (the tracks stay in the library)."""
    await playlists.delete(session, user.id, playlist_id)


@router.put(
    "/api/playlists/{playlist_id}/tracks",
    summary="Replace a playlist's entries (reorder, add and remove at once)",
    responses=errors(403, 404, (422, "unknown track ids or more than 5,000 entries")),
)
async def set_playlist_tracks(
    playlist_id: PlaylistId, body: PlaylistTracks, user: CurrentUser, session: SessionDep
) -> PlaylistDetail:
    """The entries become ``track_ids`` in that order (a track may appear more than once)."""
    await playlists.set_tracks(session, user.id, playlist_id, body.track_ids)
    return await _detail(session, user.id, playlist_id)


@router.post(
    "/api/playlists/{playlist_id}/tracks",
    summary="Add tracks to a playlist",
    responses=errors(403, 404, (422, "unknown track ids, no such index, or more than 5,000 entries")),
)
async def add_playlist_tracks(
    playlist_id: PlaylistId, body: PlaylistInsert, user: CurrentUser, session: SessionDep
) -> PlaylistDetail:
    """Insert the tracks before the entry at ``index`` (default: append)."""
    await playlists.edit(session, user.id, playlist_id, add=body.track_ids, at=body.index)
    return await _detail(session, user.id, playlist_id)


@router.post(
    "/api/playlists/{playlist_id}/tracks/move",
    summary="Move one entry of a playlist (drag and drop)",
    responses=errors(403, 404, (422, "no entry at one of the indexes")),
)
async def move_playlist_track(
    playlist_id: PlaylistId, body: PlaylistMove, user: CurrentUser, session: SessionDep
) -> PlaylistDetail:
    """The entry at ``from_index`` ends up at ``to_index``; the entries between shift by one."""
    await playlists.move(session, user.id, playlist_id, body.from_index, body.to_index)
    return await _detail(session, user.id, playlist_id)


@router.delete(
    "/api/playlists/{playlist_id}/tracks/{index}",
    summary="Remove one entry of a playlist",
    responses=errors(403, 404, (422, "no entry at this index")),
)
async def remove_playlist_track(
    playlist_id: PlaylistId,
    index: Annotated[int, Path(ge=0, description="0-based index of the entry")],
    user: CurrentUser,
    session: SessionDep,
) -> PlaylistDetail:
    """Remove the entry at ``index`` (other entries of the same track stay)."""
    await playlists.edit(session, user.id, playlist_id, remove=[index])
    return await _detail(session, user.id, playlist_id)


@router.get(
    "/api/playlists/{playlist_id}/m3u",
    summary="Export a playlist as M3U8",
    response_class=Response,
    responses={200: {"content": {"audio/x-mpegurl": {}}, "description": "an extended M3U file (UTF-8)"}, **errors(404)},
)
async def export_playlist(
    playlist_id: PlaylistId, request: Request, user: CurrentUser, session: SessionDep
) -> Response:
    """Each entry is written with ``#EXTINF:seconds,Artist - Title`` and its stream URL on this server."""
    detail = await _detail(session, user.id, playlist_id)
    content = views.m3u_text(detail.name, [entry.track for entry in detail.entries], str(request.base_url))
    filename = f"playlist-{playlist_id}.m3u8"
    return Response(
        content,
        media_type="audio/x-mpegurl; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- favourites, ratings, annotations -------------------------------------------------------------------------

ItemId = Annotated[uuid.UUID, Path(description="id of the track, album or artist")]


@router.get("/api/favourites/tracks", summary="Your starred tracks, most recently starred first")
async def favourite_tracks(
    user: CurrentUser, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[FavouriteTrack]:
    """A page of starred tracks."""
    return await _favourites(
        session,
        user.id,
        "track",
        limit,
        cursor,
        load=views.tracks_out,
        make=lambda at, t: FavouriteTrack(starred_at=at, track=t),
    )


@router.get("/api/favourites/albums", summary="Your starred albums, most recently starred first")
async def favourite_albums(
    user: CurrentUser, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[FavouriteAlbum]:
    """A page of starred albums."""
    return await _favourites(
        session,
        user.id,
        "album",
        limit,
        cursor,
        load=views.albums_out,
        make=lambda at, a: FavouriteAlbum(starred_at=at, album=a),
    )


@router.get("/api/favourites/artists", summary="Your starred artists, most recently starred first")
async def favourite_artists(
    user: CurrentUser, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[FavouriteArtist]:
    """A page of starred artists."""
    return await _favourites(
        session,
        user.id,
        "artist",
        limit,
        cursor,
        load=views.artists_out,
        make=lambda at, a: FavouriteArtist(starred_at=at, artist=a),
    )


class _Identified(Protocol):
    id: uuid.UUID


async def _favourites(
    session: AsyncSession,
    user_id: uuid.UUID,
    kind: repo.Kind,
    limit: int,
    cursor: str | None,
    *,
    load: Callable[[AsyncSession, list[uuid.UUID]], Awaitable[Sequence[_Identified]]],
    make: Callable[[datetime, Any], F],
) -> Page[F]:
    before = decode_cursor(cursor, datetime, uuid.UUID) if cursor else None
    rows = await repo.starred(session, user_id, kind, limit + 1, before)
    shown = rows[:limit]
    found = {item.id: item for item in await load(session, [item for item, _ in shown])}
    items = [make(starred_at, found[item]) for item, starred_at in shown if item in found]
    next_cursor = encode_cursor(shown[-1][1], shown[-1][0]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


@router.put(
    "/api/favourites/{kind}/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Star a track, album or artist",
    responses=errors(404),
)
async def star(kind: KindPath, item_id: ItemId, user: CurrentUser, session: SessionDep) -> None:
    """Mark as favourite (starring again keeps the first date)."""
    await favourites.star(session, user.id, KINDS[kind], [item_id])


@router.delete("/api/favourites/{kind}/{item_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Unstar an item")
async def unstar(kind: KindPath, item_id: ItemId, user: CurrentUser, session: SessionDep) -> None:
    """Remove from favourites (nothing happens if it was not starred)."""
    await favourites.unstar(session, user.id, KINDS[kind], [item_id])


@router.put("/api/ratings/{kind}/{item_id}", summary="Rate a track, album or artist", responses=errors(404))
async def rate(
    kind: KindPath, item_id: ItemId, body: RatingIn, user: CurrentUser, session: SessionDep
) -> AnnotationOut:
    """1 to 5 stars; 0 removes the rating."""
    await favourites.rate(session, user.id, KINDS[kind], item_id, body.rating)
    return await get_annotation(kind, item_id, user, session)


@router.get(
    "/api/annotations/{kind}/{item_id}",
    summary="Your star, rating and play count of an item",
    responses=errors(404),
)
async def get_annotation(kind: KindPath, item_id: ItemId, user: CurrentUser, session: SessionDep) -> AnnotationOut:
    """When you starred it, how you rated it, how often and when you last played it."""
    found = await favourites.annotation(session, user.id, KINDS[kind], item_id)
    return AnnotationOut(
        starred_at=found.starred_at,
        rating=found.rating,
        play_count=found.play_count,
        last_played_at=found.last_played_at,
    )


# --- history -------------------------------------------------------------------------------------------------


@router.post(
    "/api/history",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Record that you played a track",
    responses=errors(404),
)
async def record_play(body: PlayIn, user: CurrentUser, session: SessionDep) -> None:
    """Adds to the history and to the play counts of the track, its album and its artist (the browser's player
    sends it once a track has been listened to; client apps scrobble through /rest/)."""
    await history.record(session, user.id, [(body.track_id, body.played_at)], "web")


@router.get("/api/history", summary="Recently played tracks, newest first")
async def recent_plays(
    user: CurrentUser, session: SessionDep, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[PlayOut]:
    """Your plays (the last 10,000 are kept), keyset-paginated."""
    before = decode_cursor(cursor, datetime, int) if cursor else None
    plays = await repo.recent_plays(session, user.id, limit + 1, before)
    shown = plays[:limit]
    found = {t.id: t for t in await views.tracks_out(session, [p.track_id for p in shown])}
    items = [
        PlayOut(played_at=p.played_at, client=p.client, track=found[p.track_id]) for p in shown if p.track_id in found
    ]
    next_cursor = encode_cursor(shown[-1].played_at, shown[-1].id) if len(plays) > limit else None
    return Page(items=items, next_cursor=next_cursor)


@router.get("/api/history/most-played", summary="Your most played tracks")
async def most_played(
    user: CurrentUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
) -> list[MostPlayed]:
    """Tracks by how often you played them (ties: the most recently played first)."""
    counts = await repo.most_played(session, user.id, limit)
    found = {t.id: t for t in await views.tracks_out(session, [track for track, _ in counts])}
    return [MostPlayed(play_count=n, track=found[track]) for track, n in counts if track in found]


# --- play queue ----------------------------------------------------------------------------------------------


@router.get("/api/play-queue", summary="Your saved play queue")
async def get_play_queue(user: CurrentUser, session: SessionDep) -> PlayQueueOut:
    """What another device saved: the tracks, which one was playing and how far into it (empty when none)."""
    saved = await queue.load(session, user.id)
    if saved is None:
        return PlayQueueOut(tracks=[], current_index=None, position_ms=0, changed_at=None, changed_by=None)
    return PlayQueueOut(
        tracks=await views.tracks_out(session, saved.track_ids),
        current_index=saved.current_index,
        position_ms=saved.position_ms,
        changed_at=saved.changed_at,
        changed_by=saved.changed_by,
    )


@router.put(
    "/api/play-queue",
    summary="Save your play queue",
    responses=errors((422, "unknown track ids, current_index outside the list, or more than 5,000 entries")),
)
async def put_play_queue(body: PlayQueueIn, user: CurrentUser, session: SessionDep) -> PlayQueueOut:
    """Replaces the saved queue (an empty list clears it)."""
    await queue.save(
        session,
        user.id,
        body.track_ids,
        current_index=body.current_index,
        position_ms=body.position_ms,
        client=body.client,
    )
    return await get_play_queue(user, session)


@router.delete("/api/play-queue", status_code=status.HTTP_204_NO_CONTENT, summary="Forget your saved play queue")
async def delete_play_queue(user: CurrentUser, session: SessionDep) -> None:
    """Clear the saved queue."""
    await queue.clear(session, user.id)
