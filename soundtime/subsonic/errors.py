"""Subsonic error codes, and the one exception handlers raise to answer with one."""

from __future__ import annotations

from enum import IntEnum

from soundtime.kit.errors import AppError


class Code(IntEnum):
    """Error codes of the Subsonic API (with OpenSubsonic's 42-44)."""

    GENERIC = 0
    MISSING_PARAMETER = 10
    CLIENT_TOO_OLD = 20
    SERVER_TOO_OLD = 30
    WRONG_CREDENTIALS = 40
    TOKEN_NOT_SUPPORTED = 41
    MECHANISM_NOT_SUPPORTED = 42
    CONFLICTING_MECHANISMS = 43
    INVALID_API_KEY = 44
    NOT_AUTHORISED = 50
    NOT_FOUND = 70


class SubsonicError(Exception):
    """Answer with ``<error code= message=>`` (HTTP 200, ``status="failed"``)."""

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        help_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.help_url = help_url
        self.headers = headers or {}


def missing(name: str) -> SubsonicError:
    """Error 10 for a required parameter."""
    return SubsonicError(Code.MISSING_PARAMETER, f"required parameter is missing: {name}")


def not_found(what: str) -> SubsonicError:
    """Error 70."""
    return SubsonicError(Code.NOT_FOUND, f"{what} not found")


def not_implemented(endpoint: str) -> SubsonicError:
    """Error 0 for an endpoint of the API this server does not offer."""
    return SubsonicError(Code.GENERIC, f"{endpoint} is not implemented by this server")


def from_app_error(exc: AppError) -> SubsonicError:
    """A feature's error (404, 403, 422, 409, 503, …) as the Subsonic code clients understand."""
    if exc.status_code == 404:
        code = Code.NOT_FOUND
    elif exc.status_code == 403:
        code = Code.NOT_AUTHORISED
    else:
        code = Code.GENERIC
    headers = {"Retry-After": exc.headers["Retry-After"]} if "Retry-After" in exc.headers else None
    return SubsonicError(code, exc.message, headers=headers)
