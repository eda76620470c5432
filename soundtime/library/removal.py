"""Removing a track and what only it used: its audio blob, an emptied album, an unused cover, orphaned artists.

Shared by ``DELETE /api/tracks/{id}`` and by folder import (a re-tagged file replaces its previous version).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import on_commit, on_rollback
from soundtime.library.repository import writes as repo
from soundtime.models import Track


async def remove_track(session: AsyncSession, audio: BlobStore, blobs: BlobStore, track: Track) -> bool:
    """Delete ``track`` in this transaction; False if it is already gone.

    The digest locks (audio and album cover) are taken first and together, in the order ingest takes them, so
    a concurrent upload of the same bytes can neither deadlock with nor resurrect a half-removed track. Files
    are moved aside now and deleted when the transaction commits (put back if it rolls back).
    """
    cover = await repo.album_cover_hash(session, track.album_id) if track.album_id else None
    await repo.lock_digests(session, [track.content_hash, *([cover] if cover else [])])
    locked = await repo.get_track_entity(session, track.id, lock=True)
    if locked is None:
        return False
    await repo.delete_track(session, locked)
    removals = [(audio, locked.content_hash)] if locked.file_path else []
    artists = {locked.artist_id}
    if locked.album_id is not None:
        album_artist, unused_cover = await repo.delete_album_if_empty(session, locked.album_id)
        if album_artist is not None:
            artists.add(album_artist)
        if unused_cover is not None:
            if unused_cover != cover:  # the album got its cover after we looked: lock it too
                await repo.lock_digests(session, [unused_cover])
            await repo.delete_cover(session, unused_cover)
            removals.append((blobs, unused_cover))
    await repo.delete_artists_if_unused(session, artists)
    for store, digest in removals:
        staged = await asyncio.to_thread(store.stage_removal, digest)
        if staged is not None:
            on_commit(session, staged.confirm)
            on_rollback(session, staged.cancel)
    return True
