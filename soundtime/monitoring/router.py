"""HTTP routes of monitoring: ``/metrics`` (Prometheus) for an administrator or a scraper's METRICS_TOKEN."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soundtime.auth.dependencies import admin_user, current_user
from soundtime.context import ContextDep, SessionDep
from soundtime.kit import metrics
from soundtime.kit.errors import Unauthorized
from soundtime.kit.openapi import errors
from soundtime.monitoring import service

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
