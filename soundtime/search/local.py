"""PostgreSQL full-text search over the library: title (weight A), artist (B), album (C), prefix matching.

User input never reaches ``to_tsquery`` syntax: it is split into words, each quoted as a lexeme and marked as
a prefix (``'word':*``), and the words are AND-ed.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.library import repository as repo
from soundtime.models import Album, Artist, Track
from soundtime.models.library import FTS_CONFIG

MAX_TERMS = 16
MAX_TERM_LENGTH = 64
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(text: str) -> list[str]:
    """Lower-cased words of a search box input (at most 16, each at most 64 characters)."""
    words = [w for w in _WORD.findall(text.lower()) if any(ch.isalnum() for ch in w)]
    return [w[:MAX_TERM_LENGTH] for w in words[:MAX_TERMS]]


def prefix_tsquery(terms: list[str]) -> str:
    """A ``to_tsquery`` expression matching documents that contain a word starting with every term."""
    return " & ".join(f"'{term}':*" for term in terms)


async def search_tracks(session: AsyncSession, terms: list[str], limit: int) -> list[tuple[repo.TrackRow, float]]:
    """Tracks matching every term, best first (rank, then title, then id for a stable order)."""
    query = func.to_tsquery(FTS_CONFIG, prefix_tsquery(terms))
    rank = func.ts_rank_cd(Track.search_vector, query).label("rank")
    ids = (
        select(Track.id, rank)
        .where(Track.search_vector.bool_op("@@")(query))
        .order_by(rank.desc(), func.lower(Track.title), Track.id)
        .limit(limit)
    )
    ranked = (await session.execute(ids)).all()
    rows = await repo.tracks_by_ids(session, [track_id for track_id, _ in ranked])
    return [(rows[track_id], float(score)) for track_id, score in ranked if track_id in rows]


async def search_albums(session: AsyncSession, terms: list[str], limit: int) -> list[repo.AlbumRow]:
    """Albums whose title matches every term."""
    query = func.to_tsquery(FTS_CONFIG, prefix_tsquery(terms))
    document = func.to_tsvector(FTS_CONFIG, Album.title)
    stmt = (
        repo.album_select()
        .where(document.bool_op("@@")(query))
        .order_by(func.ts_rank_cd(document, query).desc(), func.lower(Album.title), Album.id)
        .limit(limit)
    )
    return [repo.AlbumRow(*row) for row in (await session.execute(stmt))]


async def search_artists(session: AsyncSession, terms: list[str], limit: int) -> list[repo.ArtistRow]:
    """Artists whose name matches every term."""
    query = func.to_tsquery(FTS_CONFIG, prefix_tsquery(terms))
    document = func.to_tsvector(FTS_CONFIG, Artist.name)
    stmt = (
        repo.artist_select()
        .where(document.bool_op("@@")(query))
        .order_by(func.ts_rank_cd(document, query).desc(), func.lower(Artist.name), Artist.id)
        .limit(limit)
    )
    return [repo.ArtistRow(*row) for row in (await session.execute(stmt))]
