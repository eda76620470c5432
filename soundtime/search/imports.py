"""Import a peer's search hit into the library: probe its sources for the file size (a hit carries none), then
replicate it like an announcement from the source (validation, rows, source records), so it can be streamed."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from soundtime.kit.db import Database
from soundtime.kit.errors import NotFound, ServiceUnavailable, Unprocessable
from soundtime.library.repository import details
from soundtime.library.repository.rows import TrackRow
from soundtime.p2p import repository as p2p_repo
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerError
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Blobs, OwnNode
from soundtime.p2p.validation import MAX_FILE_SIZE
from soundtime.search import repository as repo
from soundtime.search.distributed import RecentResults, as_announcement

#: ``replicate(source, announcements)``: ingest announcements as if ``source`` had sent them.
Replicate = Callable[[str, Sequence[wire.TrackAnnouncement]], Awaitable[object]]

log = logging.getLogger(__name__)


class HitImporter:
    """Adds recent search hits to the library."""

    def __init__(
        self,
        *,
        db: Database,
        own: OwnNode,
        policy: Policy,
        messenger: Blobs,
        recent: RecentResults,
        replicate: Replicate,
    ) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._messenger = messenger
        self._recent = recent
        self._replicate = replicate

    async def _row(self, digest: str) -> TrackRow | None:
        async with self._db.transaction() as session:
            track_id = await repo.track_id_by_hash(session, digest)
            return await details.get_track(session, track_id) if track_id is not None else None

    async def _probe(self, source: str, digest: str) -> int | None:
        try:
            async with asyncio.timeout(self._policy.timings.import_probe_timeout):
                return await self._messenger.probe_blob(source, digest, max_size=MAX_FILE_SIZE)
        except (PeerError, TimeoutError) as exc:
            log.info("import of %s: source %s does not answer: %s", digest[:16], source[:16], exc or "timed out")
            return None

    async def import_hit(self, digest: str) -> tuple[TrackRow, bool]:
        """The library's track for a recent search hit, and whether it was created now.

        NotFound when the hash is in no recent result; ServiceUnavailable when no source answers.
        """
        digest = digest.lower()
        if (row := await self._row(digest)) is not None:
            return row, False
        hit = self._recent.get(digest)
        if hit is None:
            raise NotFound("no recent search result has this hash; search again", code="unknown_result")
        async with self._db.transaction() as session:  # a peer deleted since the search is no source any more
            registered = await p2p_repo.existing_peer_ids(session, list(hit.sources))
        sources = [s for s in hit.sources if s in registered and s != self._own.node_id]
        sizes = await asyncio.gather(*(self._probe(source, digest) for source in sources))
        offered = [(source, size) for source, size in zip(sources, sizes, strict=True) if size is not None]
        if not offered:
            raise ServiceUnavailable("no peer offering this track answered; try again later", code="no_source")
        # One hash is one file: sources announcing another size are wrong, the most common size wins.
        size = Counter(size for _, size in offered).most_common(1)[0][0]
        for source, offered_size in offered:
            if offered_size == size:
                await self._replicate(source, [as_announcement(hit.item, source, size)])
        row = await self._row(digest)
        if row is None:
            raise Unprocessable("this result's description was rejected", code="invalid_result")
        return row, True
