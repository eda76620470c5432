"""HTTP route of search: ``GET /api/search?q=``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from soundtime.auth.dependencies import CurrentUser
from soundtime.context import SessionDep
from soundtime.library import views
from soundtime.search import local
from soundtime.search.schemas import RankedTrack, SearchResults

router = APIRouter(tags=["search"])


@router.get("/api/search", summary="Search the library")
async def search(
    _: CurrentUser,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="words to find (prefixes match)")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchResults:
    """Tracks ranked by relevance (title > artist > album), and albums and artists whose names match."""
    terms = local.query_terms(q)
    if not terms:
        return SearchResults(query=q, tracks=[], albums=[], artists=[])
    tracks = await local.search_tracks(session, terms, limit)
    albums = await local.search_albums(session, terms, limit)
    artists = await local.search_artists(session, terms, limit)
    return SearchResults(
        query=q,
        tracks=[RankedTrack(**views.track_out(row).model_dump(), relevance=score) for row, score in tracks],
        albums=[views.album_out(row) for row in albums],
        artists=[views.artist_out(row) for row in artists],
    )
