"""Playlists: create, read (own or public), rename, reorder, add and remove, delete; M3U import and export.

A playlist is readable by its owner and, when public, by every user; only its owner changes it. A private
playlist of someone else is answered as not found (its existence is not revealed). Edits of one playlist are
serialised by locking its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from soundtime.listening import m3u
from soundtime.listening import repository as repo
from soundtime.listening.schemas import MAX_ENTRIES
from soundtime.models import Playlist

#: A user owns at most this many playlists.
MAX_PLAYLISTS_PER_USER = 1000


async def check_tracks(session: AsyncSession, track_ids: Sequence[uuid.UUID]) -> None:
    """422 ``unknown_tracks`` when some of ``track_ids`` are not in the library."""
    missing = set(track_ids) - await repo.existing_ids(session, "track", track_ids)
    if missing:
        raise Unprocessable(
            f"{len(missing)} of the tracks are not in the library",
            code="unknown_tracks",
            details=sorted(str(track) for track in missing),
        )


def _check_size(count: int) -> None:
    if count > MAX_ENTRIES:
        raise Unprocessable(f"a playlist holds at most {MAX_ENTRIES} entries", code="playlist_full")


async def create(
    session: AsyncSession,
    owner_id: uuid.UUID,
    name: str,
    *,
    comment: str | None = None,
    public: bool = False,
    track_ids: Sequence[uuid.UUID] = (),
) -> Playlist:
    """A new playlist of ``owner_id``."""
    if await repo.count_playlists(session, owner_id) >= MAX_PLAYLISTS_PER_USER:
        raise Conflict(f"a user can have at most {MAX_PLAYLISTS_PER_USER} playlists", code="too_many_playlists")
    _check_size(len(track_ids))
    await check_tracks(session, track_ids)
    playlist = await repo.add_playlist(session, owner_id, name, comment, public)
    if track_ids:
        await repo.replace_entries(session, playlist, track_ids)
    return playlist


async def readable(session: AsyncSession, viewer_id: uuid.UUID, playlist_id: uuid.UUID) -> repo.PlaylistRow:
    """A playlist the viewer may read; 404 otherwise."""
    row = await repo.playlist_row(session, playlist_id)
    if row is None or not (row.playlist.public or row.playlist.owner_id == viewer_id):
        raise NotFound("no such playlist", code="playlist_not_found")
    return row


async def writable(session: AsyncSession, user_id: uuid.UUID, playlist_id: uuid.UUID) -> Playlist:
    """A playlist the user owns, locked for this transaction; 404 if invisible, 403 if someone else's."""
    playlist = await repo.get_playlist(session, playlist_id, lock=True)
    if playlist is None or not (playlist.public or playlist.owner_id == user_id):
        raise NotFound("no such playlist", code="playlist_not_found")
    if playlist.owner_id != user_id:
        raise Forbidden("only the owner of a playlist can change it", code="not_owner")
    return playlist


async def update(
    session: AsyncSession,
    user_id: uuid.UUID,
    playlist_id: uuid.UUID,
    *,
    name: str | None = None,
    comment: str | None = None,
    public: bool | None = None,
) -> Playlist:
    """Rename, comment or change visibility (None keeps a value; an empty comment removes it)."""
    playlist = await writable(session, user_id, playlist_id)
    if name is not None:
        playlist.name = name
    if comment is not None:
        playlist.comment = comment or None
    if public is not None:
        playlist.public = public
    await repo.touch_playlist(session, playlist)
    return playlist


async def delete(session: AsyncSession, user_id: uuid.UUID, playlist_id: uuid.UUID) -> None:
    """Delete a playlist the user owns."""
    await repo.delete_playlist(session, await writable(session, user_id, playlist_id))


async def set_tracks(
    session: AsyncSession, user_id: uuid.UUID, playlist_id: uuid.UUID, track_ids: Sequence[uuid.UUID]
) -> None:
    """Replace the entries (the way to reorder several at once)."""
    playlist = await writable(session, user_id, playlist_id)
    _check_size(len(track_ids))
    await check_tracks(session, track_ids)
    await repo.replace_entries(session, playlist, track_ids)


async def edit(
    session: AsyncSession,
    user_id: uuid.UUID,
    playlist_id: uuid.UUID,
    *,
    remove: Sequence[int] = (),
    add: Sequence[uuid.UUID] = (),
    at: int | None = None,
) -> None:
    """Remove the entries at the indexes ``remove`` (of the current order), then insert ``add`` at index ``at``
    (default: the end). An index that does not exist is a 422."""
    playlist = await writable(session, user_id, playlist_id)
    entries = await repo.entry_track_ids(session, playlist.id)
    outside = sorted({index for index in remove if not 0 <= index < len(entries)})
    if outside:
        raise Unprocessable(f"the playlist has no entry at index {outside[0]}", code="no_such_entry")
    dropped = set(remove)
    kept = [track for index, track in enumerate(entries) if index not in dropped]
    if at is not None and at > len(kept):
        raise Unprocessable(f"cannot insert at index {at}: the playlist has {len(kept)} entries", code="no_such_entry")
    _check_size(len(kept) + len(add))
    await check_tracks(session, add)
    where = len(kept) if at is None else at
    await repo.replace_entries(session, playlist, [*kept[:where], *add, *kept[where:]])


async def move(session: AsyncSession, user_id: uuid.UUID, playlist_id: uuid.UUID, source: int, target: int) -> None:
    """Move one entry from index ``source`` to index ``target`` (the others shift)."""
    playlist = await writable(session, user_id, playlist_id)
    entries = await repo.entry_track_ids(session, playlist.id)
    for index in (source, target):
        if not 0 <= index < len(entries):
            raise Unprocessable(f"the playlist has no entry at index {index}", code="no_such_entry")
    entries.insert(target, entries.pop(source))
    await repo.replace_entries(session, playlist, entries)


# --- M3U -----------------------------------------------------------------------------------------------------


async def import_m3u(
    session: AsyncSession, owner_id: uuid.UUID, name: str, content: str, *, public: bool = False
) -> tuple[Playlist, int, list[str]]:
    """A new playlist from an M3U file: (playlist, entries matched, labels of entries that matched nothing).

    An entry matches, in this order: the track whose id its location carries (files exported here); the track
    whose artist and title its ``#EXTINF`` says ("Artist - Title", case-insensitive); the same guessed from its
    file name ("01 - Artist - Title.flac", "Title.mp3").
    """
    items = m3u.parse(content)
    by_id = await repo.existing_ids(session, "track", [t for item in items if (t := item.track_id()) is not None])
    guesses = {item: item.artist_title() for item in items}
    found = await repo.tracks_by_artist_title(session, [g for g in guesses.values() if g is not None])
    track_ids: list[uuid.UUID] = []
    unmatched: list[str] = []
    for item in items:
        track = item.track_id()
        if track is None or track not in by_id:
            guess = guesses[item]
            key = None if guess is None else (None if guess[0] is None else guess[0].lower(), guess[1].lower())
            track = found.get(key) if key is not None else None
        if track is None:
            unmatched.append(item.label())
        else:
            track_ids.append(track)
    playlist = await create(session, owner_id, name, public=public, track_ids=track_ids)
    return playlist, len(track_ids), unmatched
