"""Local and remote search hits merged on one relevance scale.

A peer's own relevance comes from another database (SoundTime compares raw ``ts_rank`` values across instances);
here every remote hit is ranked again by our database with the expression of the local search, from its title,
artist and album. A hit our full-text search says does not match the query is dropped, so a peer cannot inject
unrelated results. A hash we hold shows as our track; one hash offered by several peers is one hit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.library.facts import TrackFacts, facts_of_row
from soundtime.library.repository import details
from soundtime.library.repository.rows import TrackRow
from soundtime.p2p import wire
from soundtime.p2p.tracks import facts_of_item
from soundtime.search import repository as repo
from soundtime.search.distributed import FanOut, RemoteHit


@dataclass(frozen=True, slots=True)
class Hit:
    """One merged result; ``track_id`` is set when the track is in our library."""

    facts: TrackFacts
    relevance: float
    track_id: uuid.UUID | None
    sources: tuple[str, ...]


async def merge(
    session: AsyncSession,
    query: str,
    limit: int,
    fan: FanOut,
    local: list[tuple[TrackRow, float]] | None = None,
) -> tuple[list[Hit], list[RemoteHit]]:
    """The best ``limit`` hits of our library (``local``: its search results, if already run) and the peers'
    answers, and the remote hits that matched."""
    sources = {digest: tuple(sorted(nodes)) for digest, nodes in fan.sources.items()}
    if local is None:
        local = await repo.search_tracks(session, query, limit)
    hits = [Hit(facts_of_row(row), rank, row.track.id, sources.get(row.track.content_hash, ())) for row, rank in local]
    found = [RemoteHit(fan.variants[h.facts.hash][0], h.sources) for h in hits if h.sources]

    others = [digest for digest in fan.variants if digest not in {h.facts.hash for h in hits}]
    held = await repo.held_tracks(session, query, others)
    held_rows = await details.tracks_by_ids(session, [tid for tid, rank in held.values() if rank is not None])
    for digest, (track_id, rank) in held.items():
        if rank is not None and track_id in held_rows:
            hits.append(Hit(facts_of_row(held_rows[track_id]), rank, track_id, sources[digest]))
            found.append(RemoteHit(fan.variants[digest][0], sources[digest]))

    candidates = [(digest, item) for digest in others if digest not in held for item in fan.variants[digest]]
    ranks = await repo.rank_texts(session, query, [(i.title, i.artist_name, i.album_title) for _, i in candidates])
    best: dict[str, tuple[float, wire.SearchResultItem]] = {}
    for index, (digest, item) in enumerate(candidates):
        rank = ranks.get(index)
        if rank is not None and (digest not in best or rank > best[digest][0]):
            best[digest] = (rank, item)
    for digest, (rank, item) in best.items():
        hits.append(Hit(facts_of_item(item), rank, None, sources[digest]))
        found.append(RemoteHit(item, sources[digest]))

    hits.sort(key=lambda h: (-h.relevance, h.facts.title.casefold(), h.facts.hash))
    return hits[:limit], found
