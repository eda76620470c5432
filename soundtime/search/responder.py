"""Our answer to a peer's SearchQuery (spec §3): every matching track of our library, naming as the source the
node that can serve its bytes — ourselves for our own tracks (and cached copies when we serve the cache), else the
track's origin."""

from __future__ import annotations

from soundtime.kit.db import Database
from soundtime.library.facts import facts_of_row
from soundtime.p2p import wire
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import OwnNode
from soundtime.p2p.tracks import search_item
from soundtime.p2p.transport import PeerConnection, Stream
from soundtime.search import repository as repo


class SearchResponder:
    """Answers SearchQuery from the library."""

    def __init__(self, *, db: Database, own: OwnNode, policy: Policy, cache: AudioCache) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._cache = cache

    async def answer(self, _: PeerConnection, stream: Stream, message: wire.SearchQuery) -> None:
        """SearchQuery: SearchResults with the same request id."""
        limits = self._policy.limits
        limit = min(message.limit, limits.max_search_results)
        query = message.query[: limits.max_search_query_chars]
        async with self._db.transaction() as session:
            found = await repo.search_tracks(session, query, limit) if limit else []
        serve_cache = self._policy.serve_cache
        results = []
        for row, rank in found:
            origin = row.track.origin_node
            servable = origin is None or (serve_cache and row.track.content_hash in self._cache)
            source = self._own.node_id if servable or origin is None else origin
            results.append(search_item(facts_of_row(row), source, rank))
        reply = wire.SearchResults(request_id=message.request_id, results=results, total=len(results))
        await stream.write(wire.encode_frame(reply), timeout=self._policy.timings.request_timeout)
