"""Audio fetched from peers: verified blobs only, bounded by ``P2P_CACHE_MAX_SIZE``, least recently used evicted.

The cache is a :class:`BlobStore` of its own (``P2P_BLOBS_DIR/cache``) plus an in-memory index rebuilt from the
folder at start-up, so the accounting can never drift from what is on disk. A blob's modification time records
when it was last played; eviction deletes files (the space is really freed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from soundtime.blobs.refs import PendingBlob
from soundtime.blobs.store import BlobStore
from soundtime.kit import metrics

log = logging.getLogger(__name__)


class AudioCache:
    """Verified audio blobs from peers, least recently used first out. Use from one event loop."""

    def __init__(self, root: Path, max_size: int, *, evicted: Callable[[int], None] = metrics.cache_evicted) -> None:
        self.store = BlobStore(root)
        self.max_size = max_size
        self._evicted = evicted  # counts blobs evicted to make room (another cache built on this one counts apart)
        self._entries: OrderedDict[str, int] = OrderedDict()  # digest -> size, least recently used first
        self.total_size = 0

    def load(self) -> None:
        """Index the blobs on disk (oldest use first) and evict down to the limit; run once at start-up."""
        self.store.cleanup_temp(older_than=0)  # transfers cut off by a crash (only this process writes here)
        found: list[tuple[float, str, int]] = []
        for digest in self.store.iter_digests():
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(self.store.path_for(digest))
                found.append((st.st_mtime, digest, st.st_size))
        self._entries.clear()
        self.total_size = 0
        for _, digest, size in sorted(found):
            self._entries[digest] = size
            self.total_size += size
        for digest in self._victims(0):
            self._forget(digest)
            self.store.delete(digest)
        if found:
            log.info("audio cache: %d blobs, %d bytes (limit %d)", len(self._entries), self.total_size, self.max_size)

    def __contains__(self, digest: str) -> bool:
        return digest in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def digests(self) -> list[str]:
        """The hashes of every cached blob."""
        return list(self._entries)

    def size_of(self, digest: str) -> int | None:
        """Size of a cached blob, None when it is not cached."""
        return self._entries.get(digest)

    def touch(self, digest: str) -> None:
        """A cached blob is being played: it becomes the most recently used (remembered across restarts)."""
        if digest not in self._entries:
            return
        self._entries.move_to_end(digest)
        with contextlib.suppress(OSError):
            os.utime(self.store.path_for(digest))

    async def admit(self, pending: PendingBlob) -> bool:
        """Publish a verified, sealed blob, evicting the least recently used ones to make room.

        Returns False (and drops the blob) when it is larger than the whole cache. The room is reserved before
        any file is touched, so concurrent admissions never overshoot the limit; on failure the sealed file is
        dropped and the reservation undone.
        """
        if pending.size > self.max_size or pending.digest in self._entries:
            await asyncio.to_thread(self.store.discard_pending, pending)
            return pending.digest in self._entries
        victims = self._victims(pending.size)
        self._evicted(len(victims))
        for digest in victims:
            self._forget(digest)
        self._entries[pending.digest] = pending.size
        self.total_size += pending.size
        try:
            await asyncio.to_thread(self._replace, victims, pending)
        except BaseException:
            self._forget(pending.digest)
            await asyncio.to_thread(self.store.discard_pending, pending)
            raise
        return True

    async def evict(self, digest: str) -> bool:
        """Remove one blob (e.g. when an administrator dereferences its track); True if it was cached."""
        if digest not in self._entries:
            return False
        self._forget(digest)
        await asyncio.to_thread(self.store.delete, digest)
        metrics.cache_evicted(1, "admin")
        return True

    def _replace(self, victims: list[str], pending: PendingBlob) -> None:
        for digest in victims:
            with contextlib.suppress(OSError):  # already forgotten; a file that resists is cleared at next start
                self.store.delete(digest)
        self.store.commit_pending_many([pending])

    def _victims(self, incoming: int) -> list[str]:
        """Least recently used digests to delete so that ``incoming`` more bytes fit."""
        excess = self.total_size + incoming - self.max_size
        victims = []
        for digest, size in self._entries.items():
            if excess <= 0:
                break
            victims.append(digest)
            excess -= size
        return victims

    def _forget(self, digest: str) -> None:
        self.total_size -= self._entries.pop(digest)
