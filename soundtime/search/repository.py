"""All SQL of local search: PostgreSQL full-text search over title (weight A), artist (B), album (C).

Documents and the query text go through the same SQL function, ``search_document`` (see the initial
migration); ``prefix_tsquery`` turns the query's words into prefix matches, so user input never reaches
``to_tsquery`` syntax and punctuated names (``AC/DC``, ``Blink-182``) match the way they were indexed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import Function

from soundtime.library import repository as library
from soundtime.models import Album, Artist, Track


def _query(text: str) -> Function[Any]:
    """The tsquery of a search box's text (computed in the database)."""
    return func.prefix_tsquery(text)


async def search_tracks(session: AsyncSession, text: str, limit: int) -> list[tuple[library.TrackRow, float]]:
    """Tracks matching every word (as prefixes), best first; ties by title then id for a stable order."""
    query = _query(text)
    rank = func.ts_rank_cd(Track.search_vector, query).label("rank")
    ids = (
        select(Track.id, rank)
        .where(Track.search_vector.bool_op("@@")(query))
        .order_by(rank.desc(), func.lower(Track.title), Track.id)
        .limit(limit)
    )
    ranked = (await session.execute(ids)).all()
    rows = await library.tracks_by_ids(session, [track_id for track_id, _ in ranked])
    return [(rows[track_id], float(score)) for track_id, score in ranked if track_id in rows]


async def search_albums(session: AsyncSession, text: str, limit: int) -> list[library.AlbumRow]:
    """Albums whose title matches every word."""
    query = _query(text)
    document = func.search_document(Album.title)
    stmt = (
        library.album_select()
        .where(document.bool_op("@@")(query))
        .order_by(func.ts_rank_cd(document, query).desc(), func.lower(Album.title), Album.id)
        .limit(limit)
    )
    return [library.AlbumRow(*row) for row in await session.execute(stmt)]


async def search_artists(session: AsyncSession, text: str, limit: int) -> list[library.ArtistRow]:
    """Artists whose name matches every word."""
    query = _query(text)
    document = func.search_document(Artist.name)
    stmt = (
        library.artist_select()
        .where(document.bool_op("@@")(query))
        .order_by(func.ts_rank_cd(document, query).desc(), func.lower(Artist.name), Artist.id)
        .limit(limit)
    )
    return [library.ArtistRow(*row) for row in await session.execute(stmt)]
