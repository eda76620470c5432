"""The browser app's refresh token, kept in an HttpOnly cookie its scripts cannot read.

A client opts in with the ``X-Refresh-Cookie: true`` request header on register, login, refresh and logout.
The cookie is ``HttpOnly`` (no script reads it, so an injected script cannot carry it away), ``SameSite=Strict``
and scoped to ``/api/auth`` (sent to nothing but these routes), and ``Secure`` when the request came over HTTPS.
Requiring the custom header as well means a cross-site page cannot make the browser use the cookie: a form
cannot set headers, and a script from another origin needs a CORS preflight that this header never passes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Cookie, Header, Request, Response

from soundtime.auth.schemas import TokenPair
from soundtime.auth.tokens import REFRESH_TOKEN_TTL

REFRESH_COOKIE = "soundtime_refresh"
COOKIE_PATH = "/api/auth"

CookieMode = Annotated[
    bool,
    Header(
        alias="X-Refresh-Cookie",
        description="true: the refresh token travels in an HttpOnly cookie instead of the JSON body (browsers)",
    ),
]
RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE, max_length=4096, include_in_schema=False)]


def deliver(pair: TokenPair, request: Request, response: Response, *, cookie_mode: bool) -> TokenPair:
    """The pair as answered: in cookie mode the refresh token goes into the cookie and out of the body."""
    if not cookie_mode:
        return pair
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token or "",
        max_age=int(REFRESH_TOKEN_TTL.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return pair.model_copy(update={"refresh_token": None})


def clear(request: Request, response: Response) -> None:
    """Delete the cookie (sign-out, or a refresh token that no longer works)."""
    response.delete_cookie(
        REFRESH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
