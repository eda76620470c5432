"""Playlists: getPlaylists, getPlaylist, createPlaylist, updatePlaylist, deletePlaylist (the listening feature's
playlists: a user's own, and everyone's public ones read-only)."""

from __future__ import annotations

import uuid
from typing import Any

from soundtime.auth import repository as accounts
from soundtime.listening import playlists
from soundtime.listening import repository as listening
from soundtime.subsonic import ids, remote, shapes
from soundtime.subsonic import repository as repo
from soundtime.subsonic.errors import Code, SubsonicError, missing
from soundtime.subsonic.registry import Call, Payload, endpoint
from soundtime.subsonic.render import timestamp

#: getPlaylists lists at most this many.
MAX_LISTED = 5000


def _playlist(row: listening.PlaylistRow) -> dict[str, Any]:
    playlist = row.playlist
    return shapes.compact(
        {
            "id": ids.playlist(playlist.id),
            "name": playlist.name,
            "comment": playlist.comment,
            "owner": row.owner_name,
            "public": playlist.public,
            "songCount": row.track_count,
            "duration": round(row.duration_secs),
            "created": timestamp(playlist.created_at),
            "changed": timestamp(playlist.updated_at),
            "coverArt": ids.playlist(playlist.id) if row.cover_album_id else None,
        }
    )


async def _with_entries(call: Call, playlist_id: uuid.UUID) -> Payload:
    user = call.me.user_id
    async with call.session() as session:
        row = await playlists.readable(session, user, playlist_id)
        entries = await listening.entry_track_ids(session, playlist_id)
        songs = await repo.songs_by_ids(session, user, entries)
    return {"playlist": {**_playlist(row), "entry": [shapes.song(songs[t]) for t in entries if t in songs]}}


@endpoint("getPlaylists")
async def get_playlists(call: Call) -> Payload:
    """The caller's playlists and everyone's public ones; ``username`` (administrators only, for others) keeps
    those of one user."""
    me = call.me
    wanted = call.params.get("username")
    async with call.session() as session:
        owner = None
        if wanted and wanted.lower() != me.username.lower():
            if not me.is_admin:
                raise SubsonicError(Code.NOT_AUTHORISED, "only administrators can list another user's playlists")
            account = await accounts.find_user(session, wanted)
            if account is None:
                return {"playlists": {"playlist": []}}
            owner = account.id
        rows = await listening.visible_playlists(session, me.user_id, MAX_LISTED, owner_id=owner)
    return {"playlists": {"playlist": [_playlist(row) for row in rows]}}


@endpoint("getPlaylist")
async def get_playlist(call: Call) -> Payload:
    """A playlist and its songs (another user's private playlist: error 70)."""
    return await _with_entries(call, ids.parse_uuid(call.params.require("id"), "pl"))


async def _songs(call: Call, name: str) -> list[uuid.UUID]:
    return [await remote.track_id(call, value) for value in call.params.all(name)]


@endpoint("createPlaylist")
async def create_playlist(call: Call) -> Payload:
    """A new playlist (``name``) with songs (``songId``, repeatable); with ``playlistId``, that playlist's songs
    are replaced instead."""
    params = call.params
    existing = params.get("playlistId")
    songs = await _songs(call, "songId")
    async with call.session() as session:
        if existing:
            playlist_id = ids.parse_uuid(existing, "pl")
            await playlists.set_tracks(session, call.me.user_id, playlist_id, songs)
            name = params.get("name")
            if name:
                await playlists.update(session, call.me.user_id, playlist_id, name=name[:255])
        else:
            name = (params.get("name") or "").strip()
            if not name:
                raise missing("name")
            playlist_id = (await playlists.create(session, call.me.user_id, name[:255], track_ids=songs)).id
    return await _with_entries(call, playlist_id)


@endpoint("updatePlaylist")
async def update_playlist(call: Call) -> Payload:
    """Rename (``name``), comment, make public or private, remove the songs at ``songIndexToRemove`` (of the
    current order) and append ``songIdToAdd`` (owner only: error 50 otherwise)."""
    params = call.params
    playlist_id = ids.parse_uuid(params.require("playlistId"), "pl")
    name = params.get("name")
    public = params.boolean("public", False) if "public" in params else None
    remove = _indexes(call)
    add = await _songs(call, "songIdToAdd")
    async with call.session() as session:
        await playlists.update(
            session,
            call.me.user_id,
            playlist_id,
            name=name.strip()[:255] if name and name.strip() else None,
            comment=params.get("comment"),
            public=public,
        )
        if remove or add:
            await playlists.edit(session, call.me.user_id, playlist_id, remove=remove, add=add)
    return {}


def _indexes(call: Call) -> list[int]:
    indexes = []
    for raw in call.params.all("songIndexToRemove"):
        try:
            indexes.append(int(raw))
        except ValueError:
            raise SubsonicError(Code.GENERIC, "songIndexToRemove must be an integer") from None
    return indexes


@endpoint("deletePlaylist")
async def delete_playlist(call: Call) -> Payload:
    """Delete a playlist the caller owns."""
    playlist_id = ids.parse_uuid(call.params.require("id"), "pl")
    async with call.session() as session:
        await playlists.delete(session, call.me.user_id, playlist_id)
    return {}
