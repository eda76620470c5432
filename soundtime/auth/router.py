"""HTTP routes of accounts: /api/auth/*."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from soundtime.auth import cookies, service
from soundtime.auth.cookies import CookieMode, RefreshCookie
from soundtime.auth.dependencies import CurrentUser, auth_rate_limit, client_key
from soundtime.auth.schemas import Credentials, RefreshRequest, Registration, TokenPair, UserOut
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.errors import Unauthorized, Unprocessable, error_body
from soundtime.kit.openapi import errors

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.get("/registration", summary="Whether a visitor may create an account")
async def registration(session: SessionDep) -> Registration:
    """Open when no account exists yet (the first becomes the administrator) or an administrator opened it."""
    return await service.registration(session)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(auth_rate_limit)],
    responses=errors((403, "registration is closed"), (409, "the username is taken"), 429, 503),
    summary="Create an account (the first one becomes admin)",
)
async def register(
    body: Credentials,
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    context: ContextDep,
    cookie_mode: CookieMode = False,
) -> TokenPair:
    """Create an account and sign it in."""
    user = await service.register(session, context.passwords, body.username, body.password)
    pair = await service.issue_tokens(session, context.tokens, user)
    return cookies.deliver(pair, request, response, cookie_mode=cookie_mode)


@router.post(
    "/login",
    dependencies=[Depends(auth_rate_limit)],
    responses=errors((401, "wrong username or password"), (403, "the account is disabled"), 429, 503),
    summary="Sign in",
)
async def login(
    body: Credentials, request: Request, response: Response, context: ContextDep, cookie_mode: CookieMode = False
) -> TokenPair:
    """Exchange a username and password for tokens."""
    pair = await service.login(context, body.username, body.password, client=client_key(request))
    return cookies.deliver(pair, request, response, cookie_mode=cookie_mode)


def _refresh_token(body: RefreshRequest | None, cookie: str | None, *, cookie_mode: bool) -> str:
    if cookie_mode:
        if not cookie:
            raise Unauthorized("not signed in", code="no_session")
        return cookie
    if body is None:
        raise Unprocessable("refresh_token: Field required", code="invalid")
    return body.refresh_token


def _refused(request: Request, code: str, message: str, *, cookie_mode: bool) -> JSONResponse:
    """A 401 for a refresh token that does not work; in cookie mode the cookie is deleted with it."""
    refused = JSONResponse(error_body(code, message), status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if cookie_mode:
        cookies.clear(request, refused)
    return refused


@router.post(
    "/refresh",
    summary="Rotate a refresh token",
    response_model=TokenPair,
    responses=errors((401, "an invalid, expired or already used refresh token, or no session cookie")),
)
async def refresh(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    context: ContextDep,
    body: RefreshRequest | None = None,
    cookie_mode: CookieMode = False,
    cookie: RefreshCookie = None,
) -> TokenPair | JSONResponse:
    """Exchange a refresh token (in the body, or the cookie) for a new pair; the old one stops working."""
    try:
        pair = await service.rotate(session, context.tokens, _refresh_token(body, cookie, cookie_mode=cookie_mode))
    except Unauthorized as exc:
        if not cookie_mode:
            raise
        return _refused(request, exc.code, exc.message, cookie_mode=True)
    if pair is None:
        message = "this refresh token was already used; every session was signed out"
        return _refused(request, "token_reused", message, cookie_mode=cookie_mode)
    return cookies.deliver(pair, request, response, cookie_mode=cookie_mode)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors((401, "an invalid refresh token")),
    summary="Revoke a refresh token",
)
async def logout(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    context: ContextDep,
    body: RefreshRequest | None = None,
    cookie_mode: CookieMode = False,
    cookie: RefreshCookie = None,
) -> None:
    """Sign out: the refresh token (in the body, or the cookie, which is deleted) can no longer be used."""
    if cookie_mode:
        cookies.clear(request, response)
        if cookie:
            await service.logout(session, context.tokens, cookie)
        return
    await service.logout(session, context.tokens, _refresh_token(body, None, cookie_mode=False))


@router.get("/me", summary="The signed-in account")
async def me(user: CurrentUser) -> UserOut:
    """Who the access token belongs to."""
    return UserOut.model_validate(user)
