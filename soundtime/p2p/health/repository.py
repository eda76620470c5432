"""All SQL of track health: locked reads and writes of one row, sweep batches, counts, the admin listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, Uuid, and_, any_, bindparam, func, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.models import Album, Artist, InstanceSetting, Peer, Track, TrackHealth, track_sources
from soundtime.p2p.health.states import HEALTHY, RECOVERED, Health
from soundtime.p2p.plans.sources import RemoteTrack, SourceRow

#: instance_settings key of the last sweep report.
REPORT_KEY = "p2p.last_health_sweep"

_effective_state = func.coalesce(TrackHealth.state, HEALTHY)


@dataclass(frozen=True, slots=True)
class SweepRow:
    """A replicated track as the sweep sees it: ``state`` is None when it has no health row (healthy)."""

    target: RemoteTrack
    state: str | None
    manually_dereferenced: bool


# --- one track ------------------------------------------------------------------------------------------------


async def get(session: AsyncSession, track_id: uuid.UUID) -> TrackHealth | None:
    """The health row of a track (None: healthy, never recorded)."""
    return await session.get(TrackHealth, track_id, populate_existing=True)


async def state_of(session: AsyncSession, track_id: uuid.UUID) -> str:
    """The state of a track ("healthy" when it has no row)."""
    state = await session.scalar(select(TrackHealth.state).where(TrackHealth.track_id == track_id))
    return state or HEALTHY


async def lock(session: AsyncSession, track_id: uuid.UUID) -> Health | None:
    """The track's health, its row created if missing and locked until the transaction ends; None if no track."""
    stmt = (
        select(TrackHealth.state, TrackHealth.consecutive_failures, TrackHealth.manually_dereferenced)
        .where(TrackHealth.track_id == track_id)
        .with_for_update()
    )
    row = (await session.execute(stmt)).first()
    if row is None:  # first record for this track (a concurrent first insert makes ours wait, then do nothing)
        exists = select(Track.id).where(Track.id == track_id)
        await session.execute(
            insert(TrackHealth).from_select(["track_id"], exists).on_conflict_do_nothing(index_elements=["track_id"])
        )
        row = (await session.execute(stmt)).first()
    return None if row is None else Health(*row)


async def save(session: AsyncSession, track_id: uuid.UUID, health: Health, **stamps: Any) -> None:
    """Write a (locked) track's new health and the given timestamp / error columns."""
    await session.execute(
        update(TrackHealth)
        .where(TrackHealth.track_id == track_id)
        .values(
            state=health.state,
            consecutive_failures=health.consecutive_failures,
            manually_dereferenced=health.manually_dereferenced,
            **stamps,
        )
    )


async def track_origin(session: AsyncSession, track_id: uuid.UUID) -> tuple[bool, str | None]:
    """(whether the track exists, its origin node: None for our own tracks)."""
    row = (await session.execute(select(Track.origin_node).where(Track.id == track_id))).first()
    return (False, None) if row is None else (True, row[0])


_TARGET_COLUMNS = (Track.id, Track.content_hash, Track.file_size, Track.format, Track.bitrate_kbps, Track.sample_rate)


async def target(session: AsyncSession, track_id: uuid.UUID) -> RemoteTrack | None:
    """A replicated track's recovery target; None when unknown or one of our own tracks."""
    stmt = select(*_TARGET_COLUMNS).where(Track.id == track_id, Track.origin_node.is_not(None))
    row = (await session.execute(stmt)).first()
    return None if row is None else RemoteTrack(*row)


# --- the sweep ------------------------------------------------------------------------------------------------


async def sweep_batch(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[SweepRow]:
    """The next ``limit`` replicated tracks in id order after ``after``, with their health (one query).

    The page is cut first and each of its rows looks its health up by primary key (LATERAL), so a batch
    reads only its own rows (a plain join lets the planner hash or merge the whole ``track_health`` table).
    """
    page = select(*_TARGET_COLUMNS).where(Track.origin_node.is_not(None)).order_by(Track.id).limit(limit)
    if after is not None:
        page = page.where(Track.id > after)
    batch = page.subquery("batch")
    health = (
        select(TrackHealth.state, TrackHealth.manually_dereferenced)
        .where(TrackHealth.track_id == batch.c.id)
        .limit(1)  # (one row at most anyway) keeps PostgreSQL from flattening it into a plain join
        .lateral("health")
    )
    stmt = select(batch, health.c.state, health.c.manually_dereferenced).outerjoin(health, true()).order_by(batch.c.id)
    return [SweepRow(RemoteTrack(*row[:6]), row[6], bool(row[7])) for row in await session.execute(stmt)]


_IDS = bindparam("ids", type_=ARRAY(Uuid()))


async def sources_of_many(session: AsyncSession, track_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[SourceRow]]:
    """{track id: every peer offering it} for a batch's tracks that need a recovery (one query)."""
    if not track_ids:
        return {}
    sources = track_sources.c
    stmt = (
        select(sources.track_id, sources.node_id, sources.is_origin, Peer.is_online, sources.failure_count)
        .join(Peer, Peer.node_id == sources.node_id)
        .where(sources.track_id == any_(_IDS))
        .order_by(sources.track_id, sources.node_id)
    )
    found: dict[uuid.UUID, list[SourceRow]] = {track_id: [] for track_id in track_ids}
    for track_id, node_id, is_origin, online, failures in await session.execute(stmt, {"ids": list(track_ids)}):
        found[track_id].append(SourceRow(node_id, is_origin, online, failures))
    return found


async def mark_checked(
    session: AsyncSession, track_ids: Sequence[uuid.UUID], *, states: Sequence[str] = (HEALTHY, RECOVERED)
) -> None:
    """Stamp ``last_checked_at`` on the rows among ``track_ids`` in one of ``states`` (one statement).

    Manual dereferences are not touched; tracks without a row keep having none ("no row" is healthy).
    """
    if not track_ids:
        return
    stmt = (
        update(TrackHealth)
        .where(
            TrackHealth.track_id == any_(_IDS),
            TrackHealth.state.in_(list(states)),
            TrackHealth.manually_dereferenced.is_(False),
        )
        .values(last_checked_at=func.now(), updated_at=TrackHealth.updated_at)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt, {"ids": list(track_ids)})


async def load_report(session: AsyncSession) -> Any:
    """The persisted last sweep report (JSON), None if there is none."""
    return await session.scalar(select(InstanceSetting.value).where(InstanceSetting.key == REPORT_KEY))


async def save_report(session: AsyncSession, report: dict[str, Any]) -> None:
    """Persist the last sweep report."""
    stmt = insert(InstanceSetting).values(key=REPORT_KEY, value=report)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": func.now()}
        )
    )


# --- admin views ----------------------------------------------------------------------------------------------


async def counts(session: AsyncSession) -> tuple[dict[str, int], int]:
    """({state: replicated tracks in it} for the states present, how many are manually dereferenced)."""
    stmt = (
        select(_effective_state, func.count(), func.count().filter(TrackHealth.manually_dereferenced))
        .select_from(Track)
        .outerjoin(TrackHealth, TrackHealth.track_id == Track.id)
        .where(Track.origin_node.is_not(None))
        .group_by(_effective_state)
    )
    rows = (await session.execute(stmt)).all()
    return {state: n for state, n, _ in rows}, sum(manual for _, _, manual in rows)


async def remote_tracks(
    session: AsyncSession, limit: int, after: uuid.UUID | None, state: str | None
) -> list[RowMapping]:
    """Replicated tracks in id order after ``after`` (optionally only those in ``state``), with health: columns
    named as :class:`~soundtime.p2p.health.schemas.RemoteTrackOut` names its fields.

    The cursor bounds both sides of the join, so a merge join starts at the cursor on both indexes.
    """
    track_after = () if after is None else (Track.id > after,)
    health_after = () if after is None else (TrackHealth.track_id > after,)
    source_count = (
        select(func.count()).select_from(track_sources).where(track_sources.c.track_id == Track.id).correlate(Track)
    ).scalar_subquery()
    stmt = (
        select(
            Track.id,
            Track.title,
            Artist.name.label("artist"),
            Album.title.label("album"),
            Track.format,
            Track.content_hash,
            Track.file_size,
            Track.origin_node,
            _effective_state.label("state"),
            func.coalesce(TrackHealth.consecutive_failures, 0).label("consecutive_failures"),
            func.coalesce(TrackHealth.manually_dereferenced, False).label("manually_dereferenced"),
            TrackHealth.last_error,
            TrackHealth.last_checked_at,
            source_count.label("source_count"),
        )
        .join(Artist, Artist.id == Track.artist_id)
        .outerjoin(Album, Album.id == Track.album_id)
        .outerjoin(TrackHealth, and_(TrackHealth.track_id == Track.id, *health_after))
        .where(Track.origin_node.is_not(None), *track_after)
        .order_by(Track.id)
        .limit(limit)
    )
    if state == HEALTHY:  # most tracks, many without a row
        stmt = stmt.where(_effective_state == state)
    elif state is not None:  # few tracks: an inner join driven by the state index
        stmt = stmt.where(TrackHealth.state == state)
    return list((await session.execute(stmt)).mappings())
