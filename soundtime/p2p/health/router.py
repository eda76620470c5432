"""HTTP routes of track health (admin): replicated tracks, manual (de)referencing, summary and sweep."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from soundtime.auth.dependencies import AdminUser
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.openapi import errors
from soundtime.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from soundtime.p2p.health import service
from soundtime.p2p.health.schemas import HealthSummary, RemoteTrackOut, TrackHealthOut
from soundtime.p2p.health.states import State

router = APIRouter(tags=["admin", "p2p"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]
StateFilter = Annotated[State | None, Query(description="only tracks in this health state")]


@router.get("/api/admin/remote-tracks", summary="Replicated tracks and their health")
async def list_remote_tracks(
    _: AdminUser,
    context: ContextDep,
    session: SessionDep,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    state: StateFilter = None,
) -> Page[RemoteTrackOut]:
    """Tracks replicated from peers, in a stable order, with health, source count and cache status."""
    return await service.list_remote_tracks(context, session, limit, cursor, state)


@router.patch("/api/admin/p2p/tracks/{track_id}/dereference", summary="Dereference a replicated track")
async def dereference(track_id: uuid.UUID, _: AdminUser, context: ContextDep, session: SessionDep) -> TrackHealthOut:
    """Take the track out of service (streams answer 410) until re-referenced; sweeps never undo it."""
    return await service.dereference(context, session, track_id)


@router.patch("/api/admin/p2p/tracks/{track_id}/rereference", summary="Re-reference a replicated track")
async def rereference(track_id: uuid.UUID, _: AdminUser, session: SessionDep) -> TrackHealthOut:
    """Put the track back in service: healthy, failures forgotten, the manual dereference lifted."""
    return await service.rereference(session, track_id)


@router.get("/api/admin/p2p/health", summary="Health of the replicated library")
async def health_summary(_: AdminUser, context: ContextDep, session: SessionDep) -> HealthSummary:
    """Tracks per health state, the last sweep's report and whether a sweep is running."""
    return await service.summary(context, session)


@router.post(
    "/api/admin/p2p/health/sweep",
    summary="Start a health sweep",
    status_code=202,
    responses=errors((503, "federation is disabled (`p2p_disabled`)")),
)
async def start_sweep(_: AdminUser, context: ContextDep, session: SessionDep) -> HealthSummary:
    """Sweep every replicated track now, in the background (joins a running sweep); 503 without P2P."""
    return await service.start_sweep(context, session)
