"""One application error type, rendered by one handler, and the handlers that keep every error in that shape.

Every error response body is ``{"error": {"code": str, "message": str, "details": ...}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from soundtime.kit.aborts import aborted_cause
from soundtime.kit.db import DATABASE_ERRORS, is_unavailable

log = logging.getLogger(__name__)


class AppError(Exception):
    """An error a client can act on; subclasses fix the HTTP status and a stable machine-readable code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = dict(headers or {})


class BadRequest(AppError):
    """The request is malformed."""


class Unauthorized(AppError):
    """Missing or invalid credentials."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "authentication required", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(AppError):
    """Authenticated, but not allowed."""

    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    """No such resource (or not visible to this user)."""

    status_code = 404
    code = "not_found"


class RequestTimeout(AppError):
    """The client stopped sending its request."""

    status_code = 408
    code = "request_timeout"


class Conflict(AppError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"


class Gone(AppError):
    """The resource existed but is no longer available (e.g. a dereferenced remote track)."""

    status_code = 410
    code = "gone"


class PayloadTooLarge(AppError):
    """The request body or an uploaded file is over a limit."""

    status_code = 413
    code = "too_large"


class UnsupportedMediaType(AppError):
    """The uploaded content is of a type we do not accept."""

    status_code = 415
    code = "unsupported_media_type"


class RangeNotSatisfiable(AppError):
    """An HTTP Range that lies outside the resource."""

    status_code = 416
    code = "range_not_satisfiable"


class Unprocessable(AppError):
    """Well-formed, but semantically invalid input."""

    status_code = 422
    code = "invalid"


class TooManyRequests(AppError):
    """A rate limit was hit; ``Retry-After`` says when to come back."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: float, message: str = "too many requests, try again later") -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message, details={"retry_after": seconds}, headers={"Retry-After": str(seconds)})


class ServiceUnavailable(AppError):
    """A dependency (the database, a peer) is not answering."""

    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON body every error response uses."""
    return {"error": {"code": code, "message": message, "details": details}}


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_code=exc.status_code, headers=exc.headers
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": ".".join(str(part) for part in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    first = details[0] if details else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return JSONResponse(error_body("invalid", message, details), status_code=422)


#: Seconds a client is asked to wait when the database is not answering.
DATABASE_RETRY_AFTER = 5


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_unavailable(exc):
        raise exc  # a genuine fault: the handler of unexpected errors logs it and answers 500
    log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return JSONResponse(
        error_body("unavailable", "the database is not answering, try again shortly"),
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if aborted_cause(exc) is None:  # an aborted response is logged once, as a warning, by the server (kit.logging)
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the one error shape."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
