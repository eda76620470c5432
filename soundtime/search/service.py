"""Search use cases: the local library, and the library with its peers (merged on one relevance scale)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.context import AppContext
from soundtime.kit.errors import ServiceUnavailable
from soundtime.library import views
from soundtime.library.facts import summary
from soundtime.library.repository.rows import TrackRow
from soundtime.library.schemas import TrackOut
from soundtime.search import repository as repo
from soundtime.search.distributed import FanOut, RemoteHit
from soundtime.search.merge import Hit, merge
from soundtime.search.schemas import P2PResults, P2PSearchResults, P2PTrack, RankedTrack, SearchResults

if TYPE_CHECKING:
    from soundtime.search.peers import PeerSearch

_WORD = re.compile(r"[^\W_]", re.UNICODE)


def searchable(text: str) -> bool:
    """Text without any letter or digit finds nothing (and costs no query)."""
    return _WORD.search(text) is not None


async def _local(session: AsyncSession, text: str, limit: int) -> tuple[SearchResults, list[tuple[TrackRow, float]]]:
    if not searchable(text):
        return SearchResults(query=text, tracks=[], albums=[], artists=[]), []
    tracks = await repo.search_tracks(session, text, limit)
    albums = await repo.search_albums(session, text, limit)
    artists = await repo.search_artists(session, text, limit)
    results = SearchResults(
        query=text,
        tracks=[RankedTrack.model_validate({**views.track_fields(row), "relevance": score}) for row, score in tracks],
        albums=[views.album_out(row) for row in albums],
        artists=[views.artist_out(row) for row in artists],
    )
    return results, tracks


async def search(session: AsyncSession, text: str, limit: int) -> SearchResults:
    """Search the library."""
    results, _ = await _local(session, text, limit)
    return results


def _p2p_track(hit: Hit) -> P2PTrack:
    return P2PTrack(**summary(hit.facts), relevance=hit.relevance, track_id=hit.track_id, sources=list(hit.sources))


async def _ask_peers(context: AppContext, text: str, limit: int, user_key: str) -> FanOut:
    """The peers' answers (none when P2P is off or the text cannot match); counts against the user's limit.

    Runs outside any transaction: no database connection is held while peers answer.
    """
    peers = context.peer_search
    if peers is None or not searchable(text):
        return FanOut()
    peers.fanout.admit(user_key)
    return await peers.fanout.ask_peers(text, limit)


def _p2p_results(context: AppContext, hits: list[Hit], found: list[RemoteHit], fan: FanOut) -> P2PResults:
    if context.peer_search is not None:
        context.peer_search.fanout.recent.remember(found)  # importable for a while
    return P2PResults(
        results=[_p2p_track(h) for h in hits],
        peers_asked=fan.asked,
        peers_answered=fan.answered,
        peers_failed=fan.failed,
    )


async def search_everywhere(
    context: AppContext, text: str, limit: int, user_key: str, *, include_p2p: bool
) -> SearchResults:
    """``GET /api/search``: the library, plus (``include_p2p``) the library and its peers merged."""
    fan = await _ask_peers(context, text, limit, user_key) if include_p2p else None
    async with context.db.transaction() as session:
        results, local = await _local(session, text, limit)
        if fan is None:
            return results
        hits, found = await merge(session, text, limit, fan, local) if searchable(text) else ([], [])
    results.p2p = _p2p_results(context, hits, found, fan)
    return results


async def search_peers(context: AppContext, text: str, limit: int, user_key: str) -> P2PSearchResults:
    """``GET /api/p2p/search``: the library and its peers, merged and ranked on one scale."""
    fan = await _ask_peers(context, text, limit, user_key)
    async with context.db.transaction() as session:
        hits, found = await merge(session, text, limit, fan) if searchable(text) else ([], [])
    return P2PSearchResults(query=text, **dict(_p2p_results(context, hits, found, fan)))


def _peer_search(context: AppContext) -> PeerSearch:
    if context.peer_search is None:
        raise ServiceUnavailable("the p2p node is disabled (P2P_ENABLED=false)", code="p2p_disabled")
    return context.peer_search


async def import_result(context: AppContext, digest: str, user_key: str) -> tuple[TrackOut, bool]:
    """Add a recent search hit to the library (replicated, streamable); (track, whether it was created)."""
    peers = _peer_search(context)
    peers.fanout.admit(user_key)
    row, created = await peers.importer.import_hit(digest)
    return views.track_out(row), created
