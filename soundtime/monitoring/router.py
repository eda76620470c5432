"""HTTP routes of monitoring: ``/metrics`` (an administrator or METRICS_TOKEN) and the federation's log (admin)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soundtime.auth.dependencies import AdminUser, admin_user, current_user
from soundtime.context import ContextDep, SessionDep
from soundtime.kit import metrics
from soundtime.kit.errors import Unauthorized
from soundtime.kit.openapi import errors
from soundtime.monitoring import logbuffer, service
from soundtime.monitoring.schemas import LogEntryOut, LogLevel, LogPage

router = APIRouter(tags=["monitoring"])

_scraper = HTTPBearer(
    auto_error=False,
    scheme_name="MetricsBearer",
    description="METRICS_TOKEN (for a Prometheus scraper) or an administrator's access token",
)


async def metrics_reader(
    context: ContextDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_scraper)],
) -> None:
    """Let through METRICS_TOKEN (compared in constant time) or an administrator's access token."""
    if credentials is None:
        raise Unauthorized()
    configured = context.settings.metrics_token
    if configured is not None and hmac.compare_digest(credentials.credentials.encode(), configured.encode()):
        return
    claims = context.tokens.verify(credentials.credentials, "access")
    await admin_user(await current_user(session, claims))


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    dependencies=[Depends(metrics_reader)],
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (OpenMetrics when the Accept header asks for it)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **errors(401, (403, "the access token is not an administrator's")),
    },
)
async def read_metrics(request: Request, context: ContextDep) -> Response:
    """Counters of federation and HTTP traffic, and gauges read at scrape time (peers, health states, cache).

    Send ``Authorization: Bearer <METRICS_TOKEN>`` (a Prometheus ``authorization`` credential) or an
    administrator's access token.
    """
    body, content_type = metrics.render(await service.snapshot(context), request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


@router.get(
    "/api/admin/p2p/logs",
    summary="Recent federation log entries",
    tags=["admin", "p2p"],
    responses=errors(401, 403, 422),
)
async def read_logs(
    _: AdminUser,
    level: Annotated[LogLevel | None, Query(description="only entries at this level or above")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**62, description="only entries with a larger id (next_after)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="most entries returned")] = 200,
) -> LogPage:
    """The federation's recent log records (``soundtime.p2p.*`` and distributed search), oldest first.

    Without ``after``: the newest ``limit`` entries. To follow the log, poll with ``after=<next_after>``.
    Records below ``LOG_LEVEL`` are never kept.
    """
    found = logbuffer.BUFFER.query(
        min_level=logbuffer.LEVELS[level] if level is not None else 0, after=after, limit=limit
    )
    return LogPage(
        entries=[LogEntryOut.model_validate(entry) for entry in found.entries],
        next_after=found.next_after,
        first_id=found.first_id,
        capacity=logbuffer.BUFFER.capacity,
    )


@router.delete(
    "/api/admin/p2p/logs",
    summary="Clear the federation log",
    status_code=204,
    tags=["admin", "p2p"],
    responses=errors(401, 403),
)
async def clear_logs(_: AdminUser) -> Response:
    """Drop every kept entry (ids keep increasing, so a page that follows the log is not confused)."""
    logbuffer.BUFFER.clear()
    return Response(status_code=204)
