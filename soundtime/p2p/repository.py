"""All SQL of federation: the peer registry, graph links, blocked nodes, our catalog pages, replicated rows."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from soundtime.kit.sql import any_of
from soundtime.library.facts import FIELDS as FACT_FIELDS
from soundtime.models import (
    Album,
    Artist,
    BlockedDomain,
    Cover,
    Peer,
    PeerLink,
    RemoteTrackSource,
    Track,
    track_sources,
)
from soundtime.p2p.plans.sources import SourceRow

AlbumArtist = aliased(Artist, name="album_artist")

#: The tables, for the writes of every contact and round: a Core statement skips the ORM's work around an entity
#: statement (synchronising loaded objects, setting up a bulk insert), about 150 us of CPU per UPDATE or DELETE
#: and 70 us per upsert here. No caller reads a Peer it loaded after these in the same session.
_peers = cast(Table, Peer.__table__)
_links = cast(Table, PeerLink.__table__)


# --- peers ---------------------------------------------------------------------------------------------------


async def touch_peer(
    session: AsyncSession,
    node_id: str,
    *,
    source: str,
    addresses: Sequence[str] = (),
    relay_url: str | None = None,
    pong: tuple[int, str | None] | None = None,
) -> None:
    """A peer is in contact with us: register or refresh it as online, with its addresses when new ones are known.

    ``track_count`` and ``version`` change only with a Pong's ``(track count, version)``; ``source`` is kept from
    the first contact.
    """
    values: dict[str, Any] = {"node_id": node_id, "source": source, "is_online": True, "last_seen_at": func.now()}
    changes: dict[str, Any] = {
        "is_online": True,
        "last_seen_at": func.now(),
        "failure_count": 0,
        "next_attempt_at": None,
    }
    if addresses:
        values["addresses"] = changes["addresses"] = list(addresses)
    if pong is not None:
        track_count, version = pong
        values["track_count"] = changes["track_count"] = track_count
        values["version"] = changes["version"] = version[:64] if version else None
    if relay_url:
        values["relay_url"] = changes["relay_url"] = relay_url
    stmt = insert(_peers).values(**values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["node_id"], set_=changes))


async def remember_peer(
    session: AsyncSession, node_id: str, *, source: str, addresses: Sequence[str] = (), keep: int
) -> list[str]:
    """Register a peer we may dial later (seed, manual, LAN) and return the addresses it is now dialled at.

    A known peer keeps what it was last seen on: ``addresses`` come first, then the ones already known, at most
    ``keep`` in all. (A seed entry written once in the settings must not replace the address a peer that moved was
    seen on since: both are tried.)
    """
    known = await session.scalar(select(Peer.addresses).where(Peer.node_id == node_id).with_for_update())
    merged = list(dict.fromkeys([*addresses, *(str(a) for a in known or ())]))[:keep]
    stmt = insert(Peer).values(node_id=node_id, source=source, addresses=merged)
    await session.execute(stmt.on_conflict_do_update(index_elements=["node_id"], set_={"addresses": merged}))
    return merged


async def record_pong(session: AsyncSession, node_id: str, track_count: int, version: str | None) -> None:
    """What a Pong told us about a peer."""
    await session.execute(
        update(_peers)
        .where(_peers.c.node_id == node_id)
        .values(track_count=track_count, version=version[:64] if version else None, last_seen_at=func.now())
    )


async def record_failure(session: AsyncSession, node_id: str, retry_at: datetime) -> None:
    """A contact attempt failed: offline, one more failure, next attempt not before ``retry_at``."""
    await session.execute(
        update(_peers)
        .where(_peers.c.node_id == node_id)
        .values(is_online=False, failure_count=_peers.c.failure_count + 1, next_attempt_at=retry_at)
    )


async def mark_offline(session: AsyncSession, node_ids: Sequence[str]) -> None:
    """These peers are not connected (connection lost, blocked)."""
    await session.execute(update(_peers).where(any_of(_peers.c.node_id, node_ids)).values(is_online=False))


async def mark_all_offline(session: AsyncSession) -> None:
    """At start-up nothing is connected yet."""
    await session.execute(update(_peers).where(_peers.c.is_online).values(is_online=False))


async def get_peer(session: AsyncSession, node_id: str) -> Peer | None:
    """One peer."""
    return await session.get(Peer, node_id)


async def list_peers(session: AsyncSession) -> list[Peer]:
    """Every known peer, online first, then by node id."""
    return list((await session.scalars(select(Peer).order_by(Peer.is_online.desc(), Peer.node_id))).all())


async def online_peer_ids(session: AsyncSession) -> list[str]:
    """The ids of the online peers, in order."""
    return list((await session.scalars(select(Peer.node_id).where(Peer.is_online).order_by(Peer.node_id))).all())


async def peers_due(session: AsyncSession, now: datetime, limit: int) -> list[Peer]:
    """Offline peers whose back-off has elapsed and that we know how to dial, longest waiting first."""
    stmt = (
        select(Peer)
        .where(~Peer.is_online, or_(Peer.next_attempt_at.is_(None), Peer.next_attempt_at <= now))
        .order_by(Peer.next_attempt_at.asc().nulls_first(), Peer.node_id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def forget_unreachable_learned(session: AsyncSession, failures: int) -> None:
    """Forget ids learned by exchange that never answered after ``failures`` attempts."""
    peers = _peers.c
    await session.execute(
        delete(_peers).where(peers.source == "exchange", peers.last_seen_at.is_(None), peers.failure_count >= failures)
    )


async def peer_count(session: AsyncSession) -> int:
    """How many peers are registered."""
    return int((await session.execute(select(func.count()).select_from(Peer))).scalar_one())


async def existing_peer_ids(session: AsyncSession, node_ids: Sequence[str]) -> set[str]:
    """The ids among ``node_ids`` that are registered."""
    if not node_ids:
        return set()
    return set((await session.scalars(select(Peer.node_id).where(any_of(Peer.node_id, node_ids)))).all())


async def add_learned_peers(session: AsyncSession, addresses: dict[str, list[str]]) -> None:
    """Register ids learned by exchange (offline until contacted); known peers only gain missing addresses."""
    if not addresses:
        return
    stmt = insert(_peers).values(
        [{"node_id": node_id, "source": "exchange", "addresses": addrs} for node_id, addrs in sorted(addresses.items())]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["node_id"],
        set_={"addresses": stmt.excluded.addresses},
        where=and_(
            func.jsonb_array_length(_peers.c.addresses) == 0, func.jsonb_array_length(stmt.excluded.addresses) > 0
        ),
    )
    await session.execute(stmt)


async def replace_links(session: AsyncSession, node_id: str, neighbours: Iterable[str]) -> None:
    """What ``node_id`` told us it knows, replacing its previous list."""
    await session.execute(delete(_links).where(_links.c.node_id == node_id))
    rows = [{"node_id": node_id, "neighbour_id": n} for n in sorted(set(neighbours)) if n != node_id]
    if rows:
        await session.execute(insert(_links).on_conflict_do_nothing(), rows)


async def list_links(session: AsyncSession) -> list[tuple[str, str]]:
    """Every (peer, neighbour) edge learned by exchange, in a stable order."""
    stmt = select(PeerLink.node_id, PeerLink.neighbour_id).order_by(PeerLink.node_id, PeerLink.neighbour_id)
    return [(a, b) for a, b in await session.execute(stmt)]


async def delete_peer(session: AsyncSession, node_id: str) -> bool:
    """Forget a peer (its links and track sources go with it)."""
    result = await session.execute(delete(Peer).where(Peer.node_id == node_id).returning(Peer.node_id))
    return result.first() is not None


async def mark_pushed(session: AsyncSession, node_id: str, watermark: datetime | None) -> None:
    """A catalog push to the peer completed; the next one may be a delta from ``watermark``."""
    values: dict[str, Any] = {"last_catalog_push_at": func.now()}
    if watermark is not None:
        values["sync_watermark"] = watermark
    await session.execute(update(_peers).where(_peers.c.node_id == node_id).values(**values))


async def release_push(session: AsyncSession, node_id: str) -> None:
    """A catalog push to the peer failed: the next one may start at once (the watermark is unchanged)."""
    await session.execute(update(_peers).where(_peers.c.node_id == node_id).values(last_catalog_push_at=None))


async def claim_push(session: AsyncSession, node_id: str, min_interval: float) -> tuple[Peer, datetime] | None:
    """Reserve a catalog push to the peer unless one started less than ``min_interval`` seconds ago.

    Returns the peer (with its previous sync watermark) and the database's time of the claim, when reserved.
    """
    now = func.now()  # the transaction's time, the same for every statement of it
    recent = now - timedelta(seconds=min_interval)
    stmt = (
        update(Peer)
        .where(Peer.node_id == node_id, or_(Peer.last_catalog_push_at.is_(None), Peer.last_catalog_push_at <= recent))
        .values(last_catalog_push_at=now)
        .returning(Peer, now)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


# --- blocking ------------------------------------------------------------------------------------------------


async def blocked_domains(session: AsyncSession) -> list[BlockedDomain]:
    """Every block, newest first."""
    stmt = select(BlockedDomain).order_by(BlockedDomain.created_at.desc(), BlockedDomain.id)
    return list((await session.scalars(stmt)).all())


async def add_blocks(
    session: AsyncSession, entries: Sequence[tuple[str, str | None]], created_by: uuid.UUID | None
) -> list[BlockedDomain]:
    """Block (domain, reason) entries; already blocked domains are left as they are. Returns the new rows."""
    if not entries:
        return []
    rows = [{"domain": d, "reason": r, "created_by": created_by} for d, r in dict(entries).items()]
    stmt = insert(BlockedDomain).on_conflict_do_nothing(index_elements=["domain"]).returning(BlockedDomain)
    return list((await session.scalars(stmt, rows)).all())


async def remove_block(session: AsyncSession, block_id: uuid.UUID) -> str | None:
    """Lift a block; returns its domain, None when there was no such block."""
    stmt = delete(BlockedDomain).where(BlockedDomain.id == block_id).returning(BlockedDomain.domain)
    return (await session.execute(stmt)).scalar_one_or_none()


async def blocked_set(session: AsyncSession) -> set[str]:
    """Every blocked domain (node ids among them)."""
    return set((await session.scalars(select(BlockedDomain.domain))).all())


# --- our catalog -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogPage:
    """A page of our own tracks, as catalog announcements need them (plain rows: pages are read in bulk)."""

    #: Each track's facts in :class:`TrackFacts` field order (:data:`FACT_FIELDS`), read by position (a row may
    #: carry more columns after them).
    facts: Sequence[Sequence[Any]]
    #: The keyset position of the page's last track: where the next page starts.
    last: tuple[datetime, uuid.UUID]


#: Where each field of :class:`TrackFacts` comes from in a catalog page's query.
_FACT_COLUMNS: dict[str, Any] = {
    "hash": Track.content_hash,
    "title": Track.title,
    "artist_name": Artist.name,
    "album_title": Album.title,
    "duration_secs": Track.duration_secs,
    "format": Track.format,
    "genre": Track.genre,
    "year": Track.year,
    "bitrate_kbps": Track.bitrate_kbps,
    "file_size": Track.file_size,
    "album_artist_name": AlbumArtist.name,
    "track_number": Track.track_number,
    "disc_number": Track.disc_number,
    "sample_rate": Track.sample_rate,
    "cover_hash": Album.cover_hash,
}


def _catalog_pages(key: Any, *where: Any) -> tuple[Any, Any]:
    """(the first page, a page after ``:after_at, :after_id``) of our own tracks in (``key``, id) order, ``:limit``
    rows each: the facts in :class:`TrackFacts` order, then ``key`` and id. Built once: a page costs its rows only."""
    first = (
        select(*(_FACT_COLUMNS[name] for name in FACT_FIELDS), key, Track.id)
        .join(Artist, Artist.id == Track.artist_id)
        .outerjoin(Album, Album.id == Track.album_id)
        .outerjoin(AlbumArtist, AlbumArtist.id == Album.artist_id)
        .where(Track.origin_node.is_(None), *where)
        .order_by(key, Track.id)
        .limit(bindparam("limit"))
    )
    after = tuple_(bindparam("after_at", type_=key.type), bindparam("after_id", type_=Track.id.type))
    return first, first.where(tuple_(key, Track.id) > after)


_CATALOG = _catalog_pages(Track.created_at)
_CHANGES = _catalog_pages(Track.updated_at, Track.updated_at > bindparam("since", type_=Track.updated_at.type))


async def _catalog_page(
    session: AsyncSession, pages: tuple[Any, Any], after: tuple[datetime, uuid.UUID] | None, **values: Any
) -> CatalogPage | None:
    if after is None:
        stmt = pages[0]
    else:
        stmt, values["after_at"], values["after_id"] = pages[1], *after
    rows = (await (await session.connection()).execute(stmt, values)).all()  # Core rows: no ORM bookkeeping
    if not rows:
        return None
    *_, key, track_id = rows[-1]
    return CatalogPage(rows, (key, track_id))


async def own_catalog_page(
    session: AsyncSession, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> CatalogPage | None:
    """Our own tracks in (created_at, id) order, after the keyset position ``after`` (None: no more)."""
    return await _catalog_page(session, _CATALOG, after, limit=limit)


async def own_changes_page(
    session: AsyncSession, since: datetime, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> CatalogPage | None:
    """Our own tracks created or changed after ``since``, in (updated_at, id) order after ``after`` (None: no
    more)."""
    return await _catalog_page(session, _CHANGES, after, limit=limit, since=since)


async def own_track_count(session: AsyncSession) -> int:
    """How many tracks we hold ourselves (what our Pong reports)."""
    stmt = select(func.count()).select_from(Track).where(Track.origin_node.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def database_now(session: AsyncSession) -> datetime:
    """The database's clock (row timestamps come from it)."""
    value: datetime = (await session.execute(select(func.now()))).scalar_one()
    return value


async def servable_digest(session: AsyncSession, digest: str) -> str | None:
    """Where a blob we serve to peers lives: "audio" for our own tracks, "cover" for covers, else None."""
    own = select(Track.id).where(
        Track.content_hash == digest, Track.origin_node.is_(None), Track.file_path.is_not(None)
    )
    if (await session.execute(own.limit(1))).first() is not None:
        return "audio"
    if await session.get(Cover, digest) is not None:
        return "cover"
    return None


# --- replicated rows -------------------------------------------------------------------------------------------


#: Columns of a replicated track as passed to :func:`insert_remote_tracks`, with their SQL array types.
REMOTE_TRACK_COLUMNS = {
    "title": "text[]",
    "artist_id": "uuid[]",
    "album_id": "uuid[]",
    "track_number": "smallint[]",
    "disc_number": "smallint[]",
    "year": "smallint[]",
    "genre": "text[]",
    "duration_secs": "float8[]",
    "format": "text[]",
    "bitrate_kbps": "int[]",
    "sample_rate": "int[]",
    "content_hash": "text[]",
    "file_size": "bigint[]",
}
#: The names a replicated track's search vector is made of, passed along with its columns (the artist's name and
#: the album's title, exactly as their rows have them).
REMOTE_TRACK_NAMES = {"artist_name": "text[]", "album_title": "text[]"}
_COLUMN_LIST = ", ".join(REMOTE_TRACK_COLUMNS)
_INPUTS = {"id": "uuid[]", **REMOTE_TRACK_COLUMNS, **REMOTE_TRACK_NAMES}
# One statement for a part of a page's new tracks; their sender, their origin, is their source without a row (see
# ``track_sources``). The vectors are computed for the whole part here (the per-row trigger skips rows that have
# one). Rows go in hash order, so concurrent pages take their unique-index locks in one order. The plain INSERT is
# tried first; the one that skips a hash another transaction inserted meanwhile (without counting it) is its fallback.
_VALUES = ", ".join(f"u.{name}" for name in REMOTE_TRACK_COLUMNS)
_ARRAYS = ", ".join(f"CAST(:{name} AS {kind})" for name, kind in _INPUTS.items())
_INSERT_REMOTE = (
    f"WITH created AS (INSERT INTO tracks (id, origin_node, {_COLUMN_LIST}, search_vector) "  # noqa: S608 - fixed names, values bound
    f"SELECT u.id, CAST(:origin AS varchar), {_VALUES}, "
    f"track_document(u.title, u.artist_name, u.album_title) FROM unnest({_ARRAYS}) AS u({', '.join(_INPUTS)}) "
    "ORDER BY u.content_hash {conflict}RETURNING id) SELECT count(*) FROM created"
)
_INSERT_REMOTE_TRACKS = text(_INSERT_REMOTE.format(conflict=""))
_INSERT_REMOTE_TRACKS_SKIPPING = text(_INSERT_REMOTE.format(conflict="ON CONFLICT (content_hash) DO NOTHING "))
_UNIQUE_VIOLATION = "23505"
# A row for every other peer offering a track (refreshed when it offers it again); the origin gets none (a row of
# its own, if it has one, is refreshed and no longer withdrawn).
_UPSERT_SOURCES = text(
    "INSERT INTO remote_track_sources (track_id, node_id, is_origin) "
    "SELECT t.id, CAST(:node AS varchar), t.origin_node IS NOT DISTINCT FROM CAST(:node AS varchar) FROM tracks t "
    "WHERE t.content_hash = ANY(CAST(:hashes AS text[])) AND (t.origin_node IS DISTINCT FROM CAST(:node AS varchar) "
    "OR EXISTS (SELECT FROM remote_track_sources s WHERE s.track_id = t.id AND s.node_id = :node)) ORDER BY t.id "
    "ON CONFLICT (track_id, node_id) DO UPDATE SET last_seen_at = now(), is_origin = excluded.is_origin, "
    "withdrawn = false"
)


_VARIANT = dict(zip("0123456789abcdef", "89ab" * 4, strict=True))


def new_track_ids(count: int) -> list[str]:
    """``count`` new ids as text: time-ordered UUIDs (version 7: the time in milliseconds, then 74 random bits).

    Made here rather than by ``gen_random_uuid()``, which the embedded PostgreSQL (built without OpenSSL) pays
    for with an open and read of ``/dev/urandom`` per row; and ordered in time, so a page's rows land together at
    the end of the primary key and of the sources' key instead of on random pages of indexes that grow with the
    catalogue. Text is what the driver encodes fastest.
    """
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    digits = os.urandom(10 * count).hex()
    chunks = (digits[i : i + 20] for i in range(0, 20 * count, 20))
    return [f"{stamp[:8]}-{stamp[8:]}-7{d[:3]}-{_VARIANT[d[3]]}{d[4:7]}-{d[7:19]}" for d in chunks]


async def insert_remote_tracks(session: AsyncSession, origin: str, parts: Sequence[dict[str, list[Any]]]) -> int:
    """Insert replicated tracks from column arrays (:data:`REMOTE_TRACK_COLUMNS` and :data:`REMOTE_TRACK_NAMES`),
    a statement per part, with ``origin`` as their origin (and so their source); returns how many were created.

    The caller found none of these hashes a moment ago, so they are inserted as they are, in a savepoint; if another
    transaction inserted one of them meanwhile (rare), the parts are inserted again skipping the hashes present,
    which keep their row and get no source here (see :func:`upsert_sources`). Skipping on every row would cost
    PostgreSQL ~5 µs per track (a speculative insertion: a lock, a check and a confirming WAL record per row).
    """
    try:
        async with session.begin_nested():
            return await _insert_parts(session, origin, parts, _INSERT_REMOTE_TRACKS)
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
    return await _insert_parts(session, origin, parts, _INSERT_REMOTE_TRACKS_SKIPPING)


async def _insert_parts(session: AsyncSession, origin: str, parts: Sequence[dict[str, list[Any]]], stmt: Any) -> int:
    created = 0
    for columns in parts:
        if count := len(columns["content_hash"]):
            values = {"origin": origin, "id": new_track_ids(count), **columns}
            created += int((await session.execute(stmt, values)).scalar_one())
    return created


async def upsert_sources(session: AsyncSession, node_id: str, digests: Sequence[str]) -> None:
    """Record that ``node_id`` offers the tracks with these hashes (whoever their origin is)."""
    if digests:
        await session.execute(_UPSERT_SOURCES, {"node": node_id, "hashes": list(digests)})


_SOURCE_COUNT = text(
    "SELECT (SELECT count(*) FROM tracks WHERE origin_node = :node) "
    "+ (SELECT count(*) FROM remote_track_sources WHERE node_id = :node AND NOT is_origin)"
)


async def source_count(session: AsyncSession, node_id: str) -> int:
    """How many tracks a peer offers us (its catalog quota is counted in these): those it is the origin of, and
    the others it offers. (An origin withdrawn as a source still counts: a few at most, on the safe side.)"""
    return int((await session.execute(_SOURCE_COUNT, {"node": node_id})).scalar_one())


_EXISTING_COVERS = text("SELECT hash FROM covers WHERE hash = ANY(CAST(:hashes AS varchar[]))")


async def existing_covers(session: AsyncSession, digests: Iterable[str]) -> set[str]:
    """The cover hashes among ``digests`` that are stored."""
    unique = sorted(set(digests))
    if not unique:
        return set()
    return set((await session.scalars(_EXISTING_COVERS, {"hashes": unique})).all())


# Offered: the origin unless withdrawn, another peer when it has a row.
_ROW_OF_NODE = "SELECT FROM remote_track_sources s WHERE s.track_id = t.id AND s.node_id = :node"
_KNOWN_HASHES = text(
    f"SELECT t.content_hash, CASE WHEN t.origin_node = :node THEN NOT EXISTS ({_ROW_OF_NODE} AND s.withdrawn) "  # noqa: S608 - fixed text
    f"ELSE EXISTS ({_ROW_OF_NODE} AND NOT s.withdrawn) END "
    "FROM tracks t WHERE t.content_hash = ANY(CAST(:hashes AS text[]))"
)


async def known_hashes(session: AsyncSession, node_id: str, digests: Sequence[str]) -> dict[str, bool]:
    """{hash: whether ``node_id`` already offers it} for the hashes among ``digests`` that have a track."""
    if not digests:
        return {}
    rows = await session.execute(_KNOWN_HASHES, {"node": node_id, "hashes": list(digests)})
    return {digest: bool(offered) for digest, offered in rows}


# An album wanted by several covers gets the smallest hash (deterministic); one with tracks of our own keeps its own.
_SHOW_COVERS = text(
    "UPDATE albums a SET cover_hash = k.cover_hash FROM ("
    "SELECT DISTINCT ON (id) id, cover_hash "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:covers AS varchar[])) AS w(id, cover_hash) ORDER BY id, cover_hash"
    ") k WHERE a.id = k.id AND a.cover_hash IS NULL "
    "AND NOT EXISTS (SELECT FROM tracks t WHERE t.album_id = a.id AND t.origin_node IS NULL)"
)


async def show_covers(session: AsyncSession, wanted: dict[str, list[uuid.UUID]]) -> None:
    """Show stored covers ({hash: album ids}) on albums that have none and hold no track of our own (one
    statement)."""
    pairs = sorted((album_id, digest) for digest, album_ids in wanted.items() for album_id in album_ids)
    if pairs:
        ids, covers = zip(*pairs, strict=True)
        await session.execute(_SHOW_COVERS, {"ids": list(ids), "covers": list(covers)})


async def add_cover(session: AsyncSession, digest: str, mime: str, size: int, album_ids: Sequence[uuid.UUID]) -> None:
    """Store a fetched cover's row and show it on the albums that want it (see :func:`show_covers`)."""
    await session.execute(
        insert(Cover).values(hash=digest, mime=mime, size=size).on_conflict_do_nothing(index_elements=["hash"])
    )
    await show_covers(session, {digest: list(album_ids)})


# --- sources of replicated audio -------------------------------------------------------------------------------


async def sources_of(session: AsyncSession, track_id: uuid.UUID) -> list[SourceRow]:
    """Every peer offering the track (whatever its state), in node id order."""
    stmt = (
        select(track_sources.c.node_id, track_sources.c.is_origin, Peer.is_online, track_sources.c.failure_count)
        .join(Peer, Peer.node_id == track_sources.c.node_id)
        .where(track_sources.c.track_id == track_id)
        .order_by(track_sources.c.node_id)
    )
    return [SourceRow(*row) for row in await session.execute(stmt)]


# The origin's first failure makes its row (an origin without a row has none).
_ORIGIN_FAILED = text(
    "INSERT INTO remote_track_sources (track_id, node_id, is_origin, failure_count) "
    "SELECT t.id, t.origin_node, true, 1 FROM tracks t JOIN peers p ON p.node_id = t.origin_node "
    "WHERE t.id = :track AND t.origin_node = :node "
    "ON CONFLICT (track_id, node_id) DO UPDATE SET failure_count = remote_track_sources.failure_count + 1"
)


async def record_source_result(session: AsyncSession, track_id: uuid.UUID, node_id: str, *, ok: bool) -> None:
    """Count a transfer from a source: a success resets its failure count, a failure adds one."""
    values: dict[str, Any] = (
        {"failure_count": 0, "last_success_at": func.now()}
        if ok
        else {"failure_count": RemoteTrackSource.failure_count + 1}
    )
    result = await session.execute(
        update(RemoteTrackSource)
        .where(RemoteTrackSource.track_id == track_id, RemoteTrackSource.node_id == node_id)
        .values(**values)
        .returning(RemoteTrackSource.node_id)
    )
    if not ok and result.first() is None:
        await session.execute(_ORIGIN_FAILED, {"track": track_id, "node": node_id})


_WITHDRAW_ORIGIN = text(
    "INSERT INTO remote_track_sources (track_id, node_id, is_origin, withdrawn) "
    "SELECT t.id, t.origin_node, true, true FROM tracks t JOIN peers p ON p.node_id = t.origin_node "
    "WHERE t.id = :track AND t.origin_node = :node "
    "ON CONFLICT (track_id, node_id) DO UPDATE SET withdrawn = true"
)


async def drop_source(session: AsyncSession, track_id: uuid.UUID, node_id: str) -> None:
    """Forget a source that served bytes not matching the track's hash (it lied about holding it): its row goes,
    the origin's row says it is withdrawn (until it offers the track again)."""
    await session.execute(
        delete(RemoteTrackSource).where(
            RemoteTrackSource.track_id == track_id,
            RemoteTrackSource.node_id == node_id,
            RemoteTrackSource.is_origin.is_(False),
        )
    )
    await session.execute(_WITHDRAW_ORIGIN, {"track": track_id, "node": node_id})
