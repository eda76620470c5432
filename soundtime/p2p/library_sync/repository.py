"""All SQL of the library-sync view: per peer, tracks catalogued from it and how many of them can be played."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class PeerSyncRow:
    """A peer with the counts of what we hold from it."""

    node_id: str
    name: str | None
    version: str | None
    is_online: bool
    blocked: bool
    last_seen_at: datetime | None
    tracks_announced: int
    tracks_catalogued: int
    tracks_playable: int
    #: When the peer last announced any of these tracks to us.
    last_synced_at: datetime | None


# A track catalogued from a peer is playable when it is one of ours (its audio is here), or when it is not
# dereferenced and either its audio is in the cache or one of its sources (this peer or another) is online.
_PEER_SYNC = """
SELECT p.node_id, p.name, p.version, p.is_online,
       EXISTS (SELECT FROM blocked_domains b WHERE b.domain = p.node_id) AS blocked,
       p.last_seen_at, p.track_count,
       coalesce(c.catalogued, 0), coalesce(c.playable, 0), c.last_announced_at
FROM peers p
LEFT JOIN LATERAL (
    SELECT count(*) AS catalogued,
           count(*) FILTER (WHERE t.origin_node IS NULL OR (
               coalesce(h.state, 'healthy') <> 'dereferenced' AND (
                   p.is_online
                   OR t.content_hash = ANY(CAST(:cached AS text[]))
                   OR EXISTS (
                       SELECT FROM track_sources o JOIN peers op ON op.node_id = o.node_id
                       WHERE o.track_id = t.id AND op.is_online
                   )
               )
           )) AS playable,
           max(s.last_seen_at) AS last_announced_at
    FROM track_sources s
    JOIN tracks t ON t.id = s.track_id
    LEFT JOIN track_health h ON h.track_id = t.id
    WHERE s.node_id = p.node_id
) c ON true
"""
_ALL = text(_PEER_SYNC + " ORDER BY p.is_online DESC, p.node_id")
_ONE = text(_PEER_SYNC + " WHERE p.node_id = :node")


async def peer_sync(session: AsyncSession, cached: Collection[str], node_id: str | None = None) -> list[PeerSyncRow]:
    """Every peer (online first), or only ``node_id``, with its counts; ``cached`` are the hashes in the cache."""
    params: dict[str, object] = {"cached": list(cached)}
    if node_id is not None:
        params["node"] = node_id
    rows = await session.execute(_ALL if node_id is None else _ONE, params)
    return [PeerSyncRow(*row) for row in rows]
