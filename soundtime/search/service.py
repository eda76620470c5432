"""Local search: one query answered with ranked tracks, albums and artists."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.library import views
from soundtime.search import repository as repo
from soundtime.search.schemas import RankedTrack, SearchResults

_WORD = re.compile(r"[^\W_]", re.UNICODE)


async def search(session: AsyncSession, text: str, limit: int) -> SearchResults:
    """Search the library; text without any letter or digit finds nothing (and costs no query)."""
    if not _WORD.search(text):
        return SearchResults(query=text, tracks=[], albums=[], artists=[])
    tracks = await repo.search_tracks(session, text, limit)
    albums = await repo.search_albums(session, text, limit)
    artists = await repo.search_artists(session, text, limit)
    return SearchResults(
        query=text,
        tracks=[RankedTrack(**views.track_out(row).model_dump(), relevance=score) for row, score in tracks],
        albums=[views.album_out(row) for row in albums],
        artists=[views.artist_out(row) for row in artists],
    )
