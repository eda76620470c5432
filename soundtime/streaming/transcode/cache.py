"""Finished transcodes on disk: bounded by ``TRANSCODE_CACHE_MAX_SIZE``, least recently used evicted first.

This is the audio cache's machinery (:class:`~soundtime.p2p.cache.AudioCache` over a
:class:`~soundtime.blobs.store.BlobStore` of its own in ``TRANSCODE_CACHE_DIR``): the same atomic publish (temp
file, fsync, link), the same index rebuilt from the folder at start-up, the same eviction that really frees the
space. One difference: an entry is named by its recipe (:meth:`TranscodeOptions.cache_key`), not by the BLAKE3
of its bytes, because a request names the recipe and the bytes are only known once the transcode is done.

A transcode is written to a temp file while it streams and published only when it finished cleanly; a stopped
or failed one leaves nothing behind. Transcodes from an offset are never cached.
"""

from __future__ import annotations

import logging
from pathlib import Path

from soundtime.blobs.errors import BlobError
from soundtime.blobs.refs import PendingBlob
from soundtime.blobs.store import BlobStore
from soundtime.blobs.writer import BlobWriter
from soundtime.kit import metrics
from soundtime.p2p.cache import AudioCache

log = logging.getLogger(__name__)


class TranscodeCache:
    """Finished transcodes by recipe key. Use from the event loop, except :class:`CacheWriter` (worker thread)."""

    def __init__(self, root: Path, max_size: int) -> None:
        self._entries = AudioCache(root, max_size, evicted=metrics.transcode_cache_evicted)

    @property
    def store(self) -> BlobStore:
        """Where the finished transcodes are."""
        return self._entries.store

    @property
    def max_size(self) -> int:
        """The cache's limit in bytes (0: nothing is cached)."""
        return self._entries.max_size

    @property
    def total_size(self) -> int:
        """Bytes held now."""
        return self._entries.total_size

    def __len__(self) -> int:
        return len(self._entries)

    def load(self) -> None:
        """Index the folder and drop unfinished writes (blocking; once at start-up)."""
        self._entries.load()

    def lookup(self, key: str) -> int | None:
        """The size of the finished transcode ``key`` (now the most recently used), or None."""
        size = self._entries.size_of(key)
        if size is not None:
            self._entries.touch(key)
        return size

    def writer(self) -> CacheWriter | None:
        """A writer for one transcode (call in the worker thread), None when caching is off."""
        if self.max_size <= 0:
            return None
        try:
            return CacheWriter(self.store.writer(max_size=self.max_size))
        except (BlobError, OSError) as exc:
            log.warning("cannot cache a transcode: %s", exc)
            return None

    async def admit(self, key: str, pending: PendingBlob) -> bool:
        """Publish a finished transcode under ``key``, evicting the least recently used to make room."""
        return await self._entries.admit(PendingBlob(key, pending.size, pending.temp_path))


class CacheWriter:
    """Copies a transcode's chunks into a temp file as they stream; gives up quietly (the listener is unaffected)
    when the output outgrows the cache or the disk fails.
    """

    def __init__(self, writer: BlobWriter) -> None:
        self._writer: BlobWriter | None = writer

    def write(self, chunk: bytes) -> None:
        if self._writer is None:
            return
        try:
            self._writer.write(chunk)
        except (BlobError, OSError) as exc:  # the writer has removed its temp file
            log.info("not caching this transcode: %s", exc)
            self._writer = None

    def finish(self) -> PendingBlob | None:
        """Seal the temp file (read-only, fsynced) for :meth:`TranscodeCache.admit`; None if caching gave up."""
        writer, self._writer = self._writer, None
        if writer is None:
            return None
        try:
            return writer.finish()
        except (BlobError, OSError) as exc:
            log.warning("not caching this transcode: %s", exc)
            return None

    def abort(self) -> None:
        """Drop the temp file (after a stop or a failure; nothing once finished)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
