"""HTTP route of search: ``GET /api/search?q=``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from soundtime.auth.dependencies import CurrentUser
from soundtime.context import SessionDep
from soundtime.search import service
from soundtime.search.schemas import SearchResults

router = APIRouter(tags=["search"])


@router.get("/api/search", summary="Search the library")
async def search(
    _: CurrentUser,
    session: SessionDep,
    q: Annotated[
        str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$", description="words to find (prefixes match)")
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchResults:
    """Tracks ranked by relevance (title > artist > album), and albums and artists whose names match."""
    return await service.search(session, q, limit)
