"""Track health as administrators see and steer it: listing, manual (de)referencing, summary, sweep trigger."""

from __future__ import annotations

import logging
import uuid

from pydantic import ValidationError
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.context import AppContext
from soundtime.kit.errors import NotFound, ServiceUnavailable, Unprocessable
from soundtime.kit.pagination import Page, decode_cursor, page_of
from soundtime.p2p.face import Sweeps
from soundtime.p2p.health import record
from soundtime.p2p.health import repository as repo
from soundtime.p2p.health.schemas import HealthSummary, RemoteTrackOut, StateCounts, SweepReport, TrackHealthOut
from soundtime.p2p.health.states import Health, dereferenced_by_admin, rereferenced_by_admin

log = logging.getLogger(__name__)


def keeper_of(context: AppContext) -> Sweeps | None:
    """The running node's health keeper (``context.p2p.health``), None when P2P is disabled."""
    return context.p2p.health if context.p2p is not None else None


async def list_remote_tracks(
    context: AppContext, session: AsyncSession, limit: int, cursor: str | None, state: str | None
) -> Page[RemoteTrackOut]:
    """Replicated tracks in id order, with health, source count and whether their audio is cached."""
    after = decode_cursor(cursor, uuid.UUID)[0] if cursor else None
    rows = await repo.remote_tracks(session, limit + 1, after, state)

    def item(row: RowMapping) -> RemoteTrackOut:
        return RemoteTrackOut(**row, cached=row["content_hash"] in context.cache)

    return page_of(rows, limit, lambda row: (row["id"],), item)


async def dereference(context: AppContext, session: AsyncSession, track_id: uuid.UUID) -> TrackHealthOut:
    """Take a replicated track out of service until an administrator re-references it; its cached audio goes."""
    content_hash = await _replicated(session, track_id)
    await record.set_by_admin(session, track_id, dereferenced_by_admin)
    if await context.cache.evict(content_hash):
        log.info("dereferenced track %s: its cached audio was removed", track_id)
    return await health_out(session, track_id)


async def rereference(session: AsyncSession, track_id: uuid.UUID) -> TrackHealthOut:
    """Put a replicated track back in service: healthy, failures forgotten, the manual pin lifted."""
    await _replicated(session, track_id)
    await record.set_by_admin(session, track_id, rereferenced_by_admin)
    return await health_out(session, track_id)


async def health_out(session: AsyncSession, track_id: uuid.UUID) -> TrackHealthOut:
    """The HTTP view of a track's health (healthy when it has no row)."""
    row = await repo.get(session, track_id)
    if row is None:
        blank = Health()
        return TrackHealthOut(
            track_id=track_id,
            state=blank.state,
            consecutive_failures=blank.consecutive_failures,
            manually_dereferenced=blank.manually_dereferenced,
            last_checked_at=None,
            last_success_at=None,
            last_failure_at=None,
            last_error=None,
        )
    return TrackHealthOut(
        track_id=track_id,
        state=row.state,
        consecutive_failures=row.consecutive_failures,
        manually_dereferenced=row.manually_dereferenced,
        last_checked_at=row.last_checked_at,
        last_success_at=row.last_success_at,
        last_failure_at=row.last_failure_at,
        last_error=row.last_error,
    )


async def summary(context: AppContext, session: AsyncSession) -> HealthSummary:
    """Counts per state (every state present), the last sweep's report and whether a sweep is running."""
    counts, manual = await repo.counts(session)
    keeper = keeper_of(context)
    last = keeper.last_report if keeper is not None else None
    if last is None:
        last = _report(await repo.load_report(session))
    return HealthSummary(
        counts=StateCounts(**counts),
        manually_dereferenced=manual,
        total=sum(counts.values()),
        last_sweep=last,
        sweep_running=keeper is not None and keeper.sweeping,
    )


async def start_sweep(context: AppContext, session: AsyncSession) -> HealthSummary:
    """Start a sweep in the background (or keep the running one); 503 when P2P is disabled."""
    keeper = keeper_of(context)
    if keeper is None:
        raise ServiceUnavailable("the p2p node is disabled (P2P_ENABLED=false)", code="p2p_disabled")
    keeper.start_sweep()
    return await summary(context, session)


async def _replicated(session: AsyncSession, track_id: uuid.UUID) -> str:
    """The content hash of a replicated track; 404 if unknown, 422 for one of our own tracks."""
    target = await repo.target(session, track_id)
    if target is not None:
        return target.content_hash
    exists, _ = await repo.track_origin(session, track_id)
    if exists:
        raise Unprocessable("this is one of our own tracks, not a replicated one", code="not_replicated")
    raise NotFound("no such track")


def _report(value: object) -> SweepReport | None:
    if value is None:
        return None
    try:
        return SweepReport.model_validate(value)
    except ValidationError:
        log.warning("ignoring an unreadable stored health sweep report")
        return None
