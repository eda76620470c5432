"""What ``/metrics`` shows at scrape time: database counts (briefly cached) and in-memory values."""

from __future__ import annotations

from soundtime.context import AppContext
from soundtime.kit.metrics import Snapshot
from soundtime.p2p.health.states import STATES


async def snapshot(context: AppContext) -> Snapshot:
    """The scrape-time gauges; every health state is present (zero when no track is in it)."""
    counts = await context.scrape_counts.get(context.db)
    return Snapshot(
        peers_known=counts.peers_known,
        peers_online=counts.peers_online,
        peers_blocked=counts.peers_blocked,
        health_states={state: counts.health_states.get(state, 0) for state in STATES},
        cache_bytes=context.cache.total_size,
        cache_entries=len(context.cache),
        cache_max_bytes=context.cache.max_size,
        resyncs_running=context.p2p.resyncs.running() if context.p2p is not None else 0,
    )
