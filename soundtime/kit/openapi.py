"""OpenAPI descriptions of error responses, in the one error shape of :mod:`soundtime.kit.errors`.

A route documents what is particular to it (``responses=errors(404, 409)``); :func:`document_errors` adds to
every operation what follows from how it is built: a bearer token (401), the administration routes (403),
parameters and bodies (422, in our error shape rather than FastAPI's), request bodies (408 too slow, 413 too
large), path parameters naming a resource (404), and the 400 any request can meet (a malformed one).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

#: What each status means when a route does not say more.
_DEFAULT_DESCRIPTIONS = {
    304: "not modified: the representation still has the ETag given in If-None-Match (no body)",
    400: "malformed request (e.g. an invalid cursor)",
    401: "missing, invalid or expired access token",
    403: "signed in, but the administrator role is required",
    404: "no such resource",
    408: "the request body arrived too slowly",
    409: "conflicts with the current state",
    410: "the resource is gone",
    413: "the request body or a file is too large",
    415: "the content type or the file's format is not accepted",
    416: "the range lies outside the file",
    422: "invalid request body or parameters",
    429: "too many requests; Retry-After says when to come back",
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


_BODY_METHODS = frozenset({"post", "put", "patch"})
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _implied(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer because of how it is built."""
    where = {parameter.get("in") for parameter in operation.get("parameters", [])}
    statuses = {400}
    if operation.get("security"):
        statuses.add(401)
    if path.startswith("/api/admin/") or path == "/metrics":
        statuses |= {401, 403}
    if "path" in where:
        statuses |= {404, 422}
    if where & {"query", "header"}:
        statuses.add(422)
    if "requestBody" in operation or method in _BODY_METHODS:
        statuses |= {408, 413, 422}
    return statuses


def document_errors(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI list, for every operation, the error answers implied by how it is built (see the
    module) in the :class:`ErrorBody` shape — also for 422, which FastAPI would describe in its own shape."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorDetail, ErrorBody):
            schemas.setdefault(model.__name__, model.model_json_schema(ref_template="#/components/schemas/{model}"))
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status in sorted(_implied(path, method, operation)):
                    responses.setdefault(str(status), {"description": _DEFAULT_DESCRIPTIONS[status]})
                for status, response in responses.items():
                    if status.startswith(("4", "5")) and status != "304":
                        response["content"] = {"application/json": {"schema": _ERROR_REF}}
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
