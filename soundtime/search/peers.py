"""Distributed search of this instance, plugged into the federation node: routing filters, the SearchQuery
responder, the fan-out of our searches and the import of their results.

The application factory builds it after the node; it registers its message handlers with the node and listens to
the node's signals, so federation itself knows nothing of search.
"""

from __future__ import annotations

from soundtime.p2p import wire
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.face import FederationHost
from soundtime.search.distributed import DistributedSearch
from soundtime.search.imports import HitImporter
from soundtime.search.responder import SearchResponder
from soundtime.search.routing import SearchFilters


class PeerSearch:
    """The search side of federation."""

    def __init__(self, federation: FederationHost, cache: AudioCache) -> None:
        db, own, policy, messenger, blocklist = (
            federation.db,
            federation.own,
            federation.policy,
            federation.messenger,
            federation.blocklist,
        )
        self.filters = SearchFilters(db=db, own=own, policy=policy, jobs=federation.jobs, messenger=messenger)
        self.responder = SearchResponder(db=db, own=own, policy=policy, cache=cache)
        self.fanout = DistributedSearch(
            db=db, own=own, policy=policy, messenger=messenger, blocklist=blocklist, filters=self.filters
        )
        self.importer = HitImporter(
            db=db,
            own=own,
            policy=policy,
            messenger=messenger,
            recent=self.fanout.recent,
            replicate=federation.replicate,
        )

        federation.handle(wire.SearchQuery, self.responder.answer)
        federation.handle(wire.BloomExchange, self.filters.on_bloom)
        signals = federation.signals
        signals.started.connect(self.filters.start)
        signals.contacted.connect(self.filters.send_to)
        signals.round_done.connect(self.filters.send_round)
        signals.peer_blocked.connect(self.filters.drop)
        signals.peer_forgotten.connect(self.filters.drop)
        signals.catalogue_changed.connect(self.filters.mark_dirty)
