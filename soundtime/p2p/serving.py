"""Serving blobs to peers (FetchTrack, spec §4): our own tracks' audio, covers, and verified cached audio when the
operator allows it. The answer is a u32 length, then the bytes; a zero length means "not offered"."""

from __future__ import annotations

import struct

from soundtime.blobs.errors import BlobNotFound
from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.policy import Policy
from soundtime.p2p.transport import PeerConnection, Stream
from soundtime.p2p.validation import HEX64

CHUNK = 256 * 1024


class BlobServer:
    """Answers FetchTrack from the stores."""

    def __init__(self, db: Database, policy: Policy, *, audio: BlobStore, covers: BlobStore, cache: AudioCache) -> None:
        self._db = db
        self._policy = policy
        self._audio = audio
        self._covers = covers
        self._cache = cache

    async def _store_of(self, digest: str) -> BlobStore | None:
        if HEX64.fullmatch(digest) is None:
            return None
        async with self._db.transaction() as session:
            kind = await repo.servable_digest(session, digest)
        store = {"audio": self._audio, "cover": self._covers}.get(kind or "")
        if store is None and self._policy.serve_cache and digest in self._cache:
            store = self._cache.store  # verified when it entered the cache
        return store

    async def answer(self, _: PeerConnection, stream: Stream, message: wire.FetchTrack) -> None:
        """FetchTrack: the length and the bytes of a blob we offer, else a zero length."""
        timeout = self._policy.timings.send_stall_timeout
        digest = message.hash
        store = await self._store_of(digest)
        size = store.size(digest) if store is not None else None
        if store is None or not size or size >= 1 << 32:
            await stream.write(struct.pack(">I", 0), timeout=timeout)
            return
        try:
            first = True
            async for chunk in store.aread_range(digest, chunk_size=CHUNK):
                await stream.write(struct.pack(">I", size) + chunk if first else chunk, timeout=timeout)
                first = False
        except BlobNotFound:
            await stream.write(struct.pack(">I", 0), timeout=timeout)
