"""HTTP routes of accounts: /api/auth/*."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse

from soundtime.auth import service
from soundtime.auth.dependencies import CurrentUser, auth_rate_limit, client_key
from soundtime.auth.schemas import Credentials, RefreshRequest, TokenPair, UserOut
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import error_body

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(auth_rate_limit)],
    summary="Create an account (the first one becomes admin)",
)
async def register(body: Credentials, session: SessionDep, context: ContextDep) -> TokenPair:
    """Create an account and sign it in."""
    user = await service.register(session, context.passwords, body.username, body.password)
    return await service.issue_tokens(session, context.tokens, user)


@router.post("/login", dependencies=[Depends(auth_rate_limit)], summary="Sign in")
async def login(body: Credentials, request: Request, context: ContextDep) -> TokenPair:
    """Exchange a username and password for tokens."""
    return await service.login(context, body.username, body.password, client=client_key(request))


@router.post("/refresh", summary="Rotate a refresh token", response_model=TokenPair)
async def refresh(body: RefreshRequest, session: SessionDep, context: ContextDep) -> TokenPair | JSONResponse:
    """Exchange a refresh token for a new access and refresh token; the old refresh token stops working."""
    pair = await service.rotate(session, context.tokens, body.refresh_token)
    if pair is None:
        return JSONResponse(
            error_body("token_reused", "this refresh token was already used; every session was signed out"),
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return pair


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a refresh token")
async def logout(body: RefreshRequest, session: SessionDep, context: ContextDep) -> None:
    """Sign out: the refresh token can no longer be used."""
    await service.logout(session, context.tokens, body.refresh_token)


@router.get("/me", summary="The signed-in account")
async def me(user: CurrentUser) -> UserOut:
    """Who the access token belongs to."""
    return UserOut.model_validate(user)
