"""FastAPI dependencies that authenticate a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soundtime.auth import repository as repo
from soundtime.auth.gate import refuse
from soundtime.auth.tokens import Claims
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import Forbidden, TooManyRequests, Unauthorized
from soundtime.kit.http_protocol import address_key
from soundtime.models import User

_bearer = HTTPBearer(auto_error=False, description="access token from /api/auth/login")


async def access_claims(
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    """Claims of the bearer access token, unless its account is disabled or the token revoked (see auth.gate)."""
    if credentials is None:
        raise Unauthorized()
    claims = context.tokens.verify(credentials.credentials, "access")
    await context.account_gate.check(context.db, claims)
    return claims


async def media_claims(
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None,
        Query(max_length=4096, description="access token, for players that cannot send headers (<audio src>)"),
    ] = None,
) -> Claims:
    """Claims of the access token given as a bearer header or, for media elements, as ``?token=``."""
    raw = credentials.credentials if credentials is not None else token
    if not raw:
        raise Unauthorized()
    claims = context.tokens.verify(raw, "access")
    await context.account_gate.check(context.db, claims)
    return claims


async def current_user(session: SessionDep, claims: Annotated[Claims, Depends(access_claims)]) -> User:
    """The account behind the access token; 401 if it no longer exists, is disabled, or the token was revoked."""
    user = await repo.get_user(session, claims.user_id)
    if user is None:
        raise Unauthorized("account no longer exists", code="invalid_token")
    refuse(claims, disabled=not user.is_active, generation=user.token_generation)
    return user


async def checked_claims(session: SessionDep, claims: Annotated[Claims, Depends(access_claims)]) -> Claims:
    """The access token's claims, its account checked in the request's transaction exactly as :func:`current_user`
    checks it (401 if it no longer exists, is disabled, or the token was revoked), without loading the account:
    for routes that only need to know that the caller is signed in."""
    state = await repo.account_state(session, claims.user_id)
    if state is None:
        raise Unauthorized("account no longer exists", code="invalid_token")
    refuse(claims, disabled=state[0], generation=state[1])
    return claims


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    """The current user, who must be an administrator."""
    if not user.is_admin:
        raise Forbidden("administrator role required")
    return user


def client_key(request: Request) -> str:
    """The rate-limit key of a client: its IPv4 address, or its IPv6 /64 (one host usually owns a whole /64)."""
    return address_key(request.client.host if request.client else "unknown")


def auth_rate_limit(request: Request, context: ContextDep) -> None:
    """Limit login and registration attempts per client address."""
    retry_after = context.auth_limiter.hit(client_key(request))
    if retry_after > 0:
        raise TooManyRequests(retry_after, "too many attempts from this address, try again later")


CurrentUser = Annotated[User, Depends(current_user)]
CheckedClaims = Annotated[Claims, Depends(checked_claims)]
AdminUser = Annotated[User, Depends(admin_user)]
MediaClaims = Annotated[Claims, Depends(media_claims)]
