"""The database half of a ``/metrics`` scrape, cached briefly so frequent or concurrent scrapes stay cheap."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from soundtime.kit.db import Database
from soundtime.monitoring import repository as repo
from soundtime.p2p.health import repository as health_repo

#: Database counts are reused for this many seconds: scrapes in between cost no query.
SNAPSHOT_TTL = 5.0


@dataclass(frozen=True, slots=True)
class DatabaseCounts:
    """Counts kept in the database that ``/metrics`` exposes as gauges."""

    peers_known: int
    peers_online: int
    peers_blocked: int
    #: {health state: replicated tracks in it}, for the states present.
    health_states: dict[str, int]


class ScrapeCounts:
    """:class:`DatabaseCounts`, read at most once per :data:`SNAPSHOT_TTL` seconds (one read at a time)."""

    def __init__(self, ttl: float = SNAPSHOT_TTL) -> None:
        self.ttl = ttl
        self._value: DatabaseCounts | None = None
        self._taken = 0.0
        self._lock = asyncio.Lock()

    async def get(self, db: Database) -> DatabaseCounts:
        """The counts, from the database when the cached ones are older than the TTL."""
        async with self._lock:
            if self._value is None or time.monotonic() - self._taken > self.ttl:
                async with db.transaction() as session:
                    known, online, blocked = await repo.peer_counts(session)
                    states, _ = await health_repo.counts(session)
                self._value = DatabaseCounts(known, online, blocked, states)
                self._taken = time.monotonic()
            return self._value
