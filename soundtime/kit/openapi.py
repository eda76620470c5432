"""OpenAPI descriptions of error responses, in the one error shape of :mod:`soundtime.kit.errors`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

#: What each status means when a route does not say more.
_DEFAULT_DESCRIPTIONS = {
    304: "not modified: the representation still has the ETag given in If-None-Match (no body)",
    400: "malformed request (e.g. an invalid cursor)",
    401: "missing, invalid or expired access token",
    403: "signed in, but the administrator role is required",
    404: "no such resource",
    409: "conflicts with the current state",
    422: "invalid request body or parameters",
    503: "a dependency (the database, the p2p node, a peer) is not available",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable code and a message for people."""

    code: str = Field(description="stable machine-readable code, e.g. `peer_not_found`")
    message: str
    details: Any = Field(None, description="extra facts for some codes (e.g. invalid fields, retry_after)")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def errors(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error body and a description (``(status, text)``)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for entry in statuses:
        status, description = entry if isinstance(entry, tuple) else (entry, _DEFAULT_DESCRIPTIONS[entry])
        responses[status] = (
            {"description": description} if status == 304 else {"model": ErrorBody, "description": description}
        )
    return responses
