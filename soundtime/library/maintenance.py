"""Background upkeep of the stores: remove temporary files nobody will finish, and blobs and cover rows that
nothing refers to.

Temporary files (``.tmp`` of each store) of a process that is gone are removed at start-up and by a sweep every
10 minutes; those of live processes (the server, a ``soundtime import`` next to it) only once nobody touched them
for an hour (see :meth:`BlobStore.cleanup_temp`).

Unreferenced blobs appear when a process dies between publishing a blob and committing its row, when such a
transaction fails, or when two uploads race to give an album its cover. Each candidate is checked and removed
under its digest lock (the lock ingest holds from publishing to committing), so a blob that an ingest is about
to reference is never removed.

The blob store in ``P2P_BLOBS_DIR`` holds only covers. Audio cached from peers lives in its own store in the
``cache/`` folder inside it (not a shard folder, so this collector never looks there); the cache bounds itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.library.repository import writes as repo

log = logging.getLogger(__name__)

SWEEP_CHUNK = 1000
#: Seconds between two sweeps of the stores' temporary files.
TEMP_SWEEP_SECONDS = 600.0
#: A blob younger than this is left alone even if unreferenced (belt and braces on top of the locks).
GRACE_SECONDS = 3600.0

Referenced = Callable[[AsyncSession, list[str]], Awaitable[set[str]]]


@dataclass(frozen=True, slots=True)
class GarbageReport:
    """What one collection removed."""

    audio_blobs: int
    cover_rows: int
    cover_blobs: int


def _old_digests(store: BlobStore, cutoff: float) -> list[str]:
    old = []
    for digest in store.iter_digests():
        try:
            if store.path_for(digest).stat().st_mtime <= cutoff:
                old.append(digest)
        except FileNotFoundError:
            continue
    return old


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _sweep(db: Database, store: BlobStore, referenced: Referenced, cutoff: float) -> int:
    removed = 0
    for chunk in _chunks(await asyncio.to_thread(_old_digests, store, cutoff), SWEEP_CHUNK):
        async with db.transaction() as session:
            await repo.lock_digests(session, chunk)
            keep = await referenced(session, chunk)
            for digest in chunk:
                if digest not in keep and await asyncio.to_thread(store.delete, digest):
                    removed += 1
    return removed


async def collect_garbage(
    db: Database, audio: BlobStore, blobs: BlobStore, *, grace: float = GRACE_SECONDS
) -> GarbageReport:
    """Remove cover rows no album shows, then blobs no track or cover row refers to (older than ``grace``)."""
    cutoff = time.time() - grace
    async with db.transaction() as session:
        candidates = await repo.unused_covers(session, grace)
    cover_rows = 0
    for chunk in _chunks(candidates, SWEEP_CHUNK):
        async with db.transaction() as session:
            await repo.lock_digests(session, chunk)  # an upload reusing one of these covers holds this lock
            cover_rows += await repo.delete_covers_if_unused(session, chunk)
    audio_blobs = await _sweep(db, audio, repo.referenced_track_hashes, cutoff)
    cover_blobs = await _sweep(db, blobs, repo.referenced_cover_hashes, cutoff)
    report = GarbageReport(audio_blobs, cover_rows, cover_blobs)
    if audio_blobs or cover_rows or cover_blobs:
        log.info("removed unreferenced data: %s", report)
    return report


def sweep_temp(stores: Iterable[BlobStore]) -> int:
    """Clear the temporary files of ``stores`` that nobody will finish; how many were removed (logged)."""
    removed = sum(store.cleanup_temp() for store in stores)
    if removed:
        log.info("removed %d unfinished temporary files (left by an interrupted write)", removed)
    return removed


async def run_periodically(
    db: Database,
    audio: BlobStore,
    blobs: BlobStore,
    *,
    temp_stores: Iterable[BlobStore] = (),
    first_after: float = 60.0,
    every: float = 6 * 3600.0,
    temp_every: float | None = None,
) -> None:
    """Sweep temporary files every ``temp_every`` seconds (:data:`TEMP_SWEEP_SECONDS`) and collect garbage every
    ``every`` seconds (the first time ``first_after`` seconds after start-up), until cancelled."""
    temp_every = TEMP_SWEEP_SECONDS if temp_every is None else temp_every
    stores = [audio, blobs, *temp_stores]
    loop = asyncio.get_running_loop()
    next_collection = loop.time() + first_after
    while True:
        await asyncio.sleep(max(min(temp_every, next_collection - loop.time()), 0.0))
        try:
            await asyncio.to_thread(sweep_temp, stores)
        except Exception:
            log.exception("sweeping temporary files failed; trying again later")
        if loop.time() >= next_collection:
            next_collection = loop.time() + every
            try:
                await collect_garbage(db, audio, blobs)
            except Exception:
                log.exception("garbage collection failed; trying again later")
