"""All SQL of local search: PostgreSQL full-text search over title (weight A), artist (B), album (C).

Documents and the query text go through the same SQL function, ``search_document`` (see the initial
migration); ``prefix_tsquery`` turns the query's words into prefix matches, so user input never reaches
``to_tsquery`` syntax and punctuated names (``AC/DC``, ``Blink-182``) match the way they were indexed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Subquery, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import Function

from soundtime.kit.sql import any_of
from soundtime.library.repository import rows as library_rows
from soundtime.models import Album, Artist, Peer, Track

#: Matches a search ranks at most (per kind): a query matching more is ranked among its most recently added
#: matches, so its cost does not grow with how common its words are (see :func:`_ranked`).
CANDIDATES = 500


def _query(text: Any) -> Function[Any]:
    """The tsquery of a search box's text, words as prefixes (computed in the database)."""
    return func.prefix_tsquery(text)


async def plan_with_values(session: AsyncSession) -> None:
    """Plan the rest of this transaction's statements with their parameter values, never with a generic plan.

    The query text decides the plan: a common word is best found by walking the newest rows, a rare one through
    the full-text index; and only with the value known is ``prefix_tsquery(…)`` computed once per statement
    instead of once per row. (A prepared statement otherwise switches to a generic plan after five runs.) Set
    once per transaction: every round trip counts on a busy server.
    """
    await session.connection()  # begins the transaction, whose identity tells whether it is set already
    transaction = session.get_transaction()
    if session.info.get(_PLANNED_WITH_VALUES) is not transaction:
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        session.info[_PLANNED_WITH_VALUES] = transaction


_PLANNED_WITH_VALUES = "soundtime.search.planned_with_values"


_TEXT = bindparam("text", type_=String)
_LIMIT = bindparam("limit", type_=Integer)
_POOL = bindparam("pool", type_=Integer)


def _ranked(entity: type[Track | Album | Artist], title: Any) -> Subquery:
    """(id, rank, …) of the best ``:limit`` rows of ``entity`` matching the query ``:text``: by relevance, whole
    words before prefixes, then by ``title`` (lower-cased) and id.

    The candidates are the ``:pool`` (:data:`CANDIDATES`, or the limit if more) most recently added matches: all
    of them for most queries. The planner finds them either through the full-text index (rare words: few matches
    to sort) or by walking the newest rows in index order until enough match (common words: a match every few
    rows); either way the work is bounded by the number of candidates, not by how many rows match.
    """
    pool = (
        select(entity.id, title.label("title"), entity.search_vector)
        .where(entity.search_vector.bool_op("@@")(_query(_TEXT)))
        .order_by(entity.created_at.desc(), entity.id.desc())
        .limit(_POOL)
        .subquery("candidates")
    )
    rank = func.ts_rank_cd(pool.c.search_vector, _query(_TEXT)).label("rank")
    whole_words = pool.c.search_vector.bool_op("@@")(func.exact_tsquery(_TEXT)).label("whole_words")
    sort_key = func.lower(pool.c.title).label("sort_key")
    return (
        select(pool.c.id, rank, whole_words, sort_key)
        .order_by(rank.desc(), whole_words.desc(), sort_key, pool.c.id)
        .limit(_LIMIT)
        .subquery("ranked")
    )


def in_rank_order(ranked: Subquery) -> tuple[Any, ...]:
    """ORDER BY of rows joined to a :func:`_ranked` subquery (such as :data:`RANKED_TRACKS`)."""
    return ranked.c.rank.desc(), ranked.c.whole_words.desc(), ranked.c.sort_key, ranked.c.id


# Built once: the statements' compiled forms are reused (a search runs three of them). The ranked subqueries take
# the values of :func:`search_values`; other readers (the Subsonic API) join their own columns to them, after
# :func:`plan_with_values`.
RANKED_TRACKS = _ranked(Track, Track.title)
_TRACKS = (
    library_rows.track_select()
    .add_columns(RANKED_TRACKS.c.rank)
    .join(RANKED_TRACKS, RANKED_TRACKS.c.id == Track.id)
    .order_by(*in_rank_order(RANKED_TRACKS))
)
RANKED_ALBUMS = _ranked(Album, Album.title)
_ALBUMS = (
    library_rows.album_select()
    .join(RANKED_ALBUMS, RANKED_ALBUMS.c.id == Album.id)
    .order_by(*in_rank_order(RANKED_ALBUMS))
)
RANKED_ARTISTS = _ranked(Artist, Artist.name)
_ARTISTS = (
    library_rows.artist_select()
    .join(RANKED_ARTISTS, RANKED_ARTISTS.c.id == Artist.id)
    .order_by(*in_rank_order(RANKED_ARTISTS))
)


def search_values(text: str, limit: int) -> dict[str, Any]:
    """The parameters of the ranked subqueries: the best ``limit`` matches of the search box's ``text``."""
    return {"text": text, "limit": limit, "pool": max(CANDIDATES, limit)}


async def search_tracks(session: AsyncSession, text: str, limit: int) -> list[tuple[library_rows.TrackRow, float]]:
    """Tracks matching every word (as prefixes), best first (see :func:`_ranked`), with their relevance."""
    await plan_with_values(session)
    rows = await session.execute(_TRACKS, search_values(text, limit))
    return [(library_rows.track_row(row), float(row[-1])) for row in rows]


async def search_albums(session: AsyncSession, text: str, limit: int) -> list[library_rows.AlbumRow]:
    """Albums whose title matches every word, best first (see :func:`_ranked`)."""
    await plan_with_values(session)
    return [library_rows.album_row(row) for row in await session.execute(_ALBUMS, search_values(text, limit))]


async def search_artists(session: AsyncSession, text: str, limit: int) -> list[library_rows.ArtistRow]:
    """Artists whose name matches every word, best first (see :func:`_ranked`)."""
    await plan_with_values(session)
    return [library_rows.artist_row(row) for row in await session.execute(_ARTISTS, search_values(text, limit))]


# --- distributed search --------------------------------------------------------------------------------------

#: The relevance of documents that are not rows: the same document as the tracks' search vectors
#: (``track_document``: title A, artist B, album C) and the same rank as :func:`search_tracks`, so remote hits
#: share the local scale.
_RANK_TEXTS = text(
    "SELECT u.i, ts_rank_cd(d.doc, q.q) FROM unnest("
    "CAST(:titles AS text[]), CAST(:artists AS text[]), CAST(:albums AS text[])"
    ") WITH ORDINALITY AS u(title, artist, album, i) "
    "CROSS JOIN LATERAL (SELECT track_document(u.title, u.artist, u.album) AS doc) AS d "
    "CROSS JOIN prefix_tsquery(CAST(:query AS text)) AS q(q) "
    "WHERE d.doc @@ q.q"
)


async def rank_texts(
    session: AsyncSession, query: str, documents: Sequence[tuple[str, str, str | None]]
) -> dict[int, float]:
    """{index: relevance} of the (title, artist, album) documents that match ``query`` (others are left out)."""
    if not documents:
        return {}
    titles, artists, albums = (list(column) for column in zip(*documents, strict=True))
    rows = await session.execute(_RANK_TEXTS, {"titles": titles, "artists": artists, "albums": albums, "query": query})
    return {int(index) - 1: float(rank) for index, rank in rows}


async def held_tracks(
    session: AsyncSession, query: str, digests: Sequence[str]
) -> dict[str, tuple[uuid.UUID, float | None]]:
    """{hash: (track id, relevance or None when it does not match ``query``)} for the hashes in the library."""
    if not digests:
        return {}
    tsquery = _query(query)
    matches = Track.search_vector.bool_op("@@")(tsquery)
    stmt = select(Track.content_hash, Track.id, func.ts_rank_cd(Track.search_vector, tsquery), matches).where(
        any_of(Track.content_hash, digests)
    )
    return {
        digest: (track_id, float(rank) if hit else None) for digest, track_id, rank, hit in await session.execute(stmt)
    }


async def track_id_by_hash(session: AsyncSession, digest: str) -> uuid.UUID | None:
    """The id of the track with this content hash, if the library has it."""
    return (await session.execute(select(Track.id).where(Track.content_hash == digest))).scalar_one_or_none()


async def online_peers(session: AsyncSession, node_ids: Sequence[str]) -> list[tuple[str, int]]:
    """(node id, track count) of the online peers among ``node_ids``."""
    if not node_ids:
        return []
    stmt = select(Peer.node_id, Peer.track_count).where(Peer.is_online, any_of(Peer.node_id, node_ids))
    return [(node_id, int(count)) for node_id, count in await session.execute(stmt)]


# Every piece, split on spaces, of the titles, artist names and album titles of the tracks (own and replicated),
# each distinct piece once. The database does the bulk of the work, in its own process: the app only finishes
# the pieces, a few tens of thousands for a library of 250,000 tracks.
_LIBRARY_PIECES = text(
    "SELECT DISTINCT piece FROM ("
    "SELECT title AS t FROM tracks "
    "UNION ALL SELECT a.name FROM artists a WHERE EXISTS (SELECT FROM tracks WHERE artist_id = a.id) "
    "UNION ALL SELECT al.title FROM albums al WHERE EXISTS (SELECT FROM tracks WHERE album_id = al.id)"
    ") texts CROSS JOIN string_to_table(t, ' ') AS piece WHERE piece <> ''"
)


async def stream_library_pieces(session: AsyncSession, batch: int) -> AsyncIterator[list[str]]:
    """The distinct space-separated pieces of every track's title, artist and album, in batches.

    Splitting them on the rest of Unicode's whitespace and lower-casing them stays with the caller (SoundTime's
    terms are lower-cased as Rust does, as Python does; PostgreSQL's ``lower`` differs for a few letters).
    """
    result = await session.stream(_LIBRARY_PIECES, execution_options={"yield_per": batch})
    async for rows in result.partitions(batch):
        yield [piece for (piece,) in rows]


async def library_fingerprint(session: AsyncSession) -> tuple[int, datetime | None]:
    """(track count, newest change): differs whenever a track was added, removed or changed since."""
    row = (await session.execute(select(func.count(), func.max(Track.updated_at)).select_from(Track))).one()
    return int(row[0]), row[1]
