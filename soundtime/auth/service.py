"""Registration, login and token rotation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.admin.repository import load_instance_settings
from soundtime.auth import repository as repo
from soundtime.auth.passwords import Passwords
from soundtime.auth.schemas import TokenPair, UserOut
from soundtime.auth.tokens import ACCESS_TOKEN_TTL, TokenService
from soundtime.kit.errors import Conflict, Forbidden, Unauthorized
from soundtime.models import User


async def register(session: AsyncSession, passwords: Passwords, username: str, password: str) -> User:
    """Create an account; the first one becomes admin, later ones need open registration."""
    await repo.lock_users(session)
    first = await repo.count_users(session) == 0
    if not first and not (await load_instance_settings(session)).registration_open:
        raise Forbidden("registration is closed; ask an administrator for an account", code="registration_closed")
    return await create_user(session, passwords, username, password, admin=first)


async def create_user(
    session: AsyncSession, passwords: Passwords, username: str, password: str, *, admin: bool
) -> User:
    """Create an account with a role (used by registration and by the command line)."""
    if await repo.find_user(session, username) is not None:
        raise Conflict(f"the username {username!r} is taken", code="username_taken")
    password_hash = await asyncio.to_thread(passwords.hash, password)
    return await repo.add_user(session, username, password_hash, "admin" if admin else "user")


async def authenticate(session: AsyncSession, passwords: Passwords, username: str, password: str) -> User:
    """Check credentials; the same error (and the same work) whether the user or the password is wrong."""
    user = await repo.find_user(session, username)
    ok = await asyncio.to_thread(passwords.verify, user.password_hash if user else None, password)
    if user is None or not ok:
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    new_hash = None
    if passwords.needs_rehash(user.password_hash):
        new_hash = await asyncio.to_thread(passwords.hash, password)
    await repo.touch_login(session, user, new_hash)
    return user


async def issue_tokens(session: AsyncSession, tokens: TokenService, user: User) -> TokenPair:
    """A new access token and a new (recorded) refresh token."""
    access, _ = tokens.issue(user.id, user.role, "access")
    refresh, claims = tokens.issue(user.id, user.role, "refresh")
    await repo.add_refresh_token(session, claims.token_id, user.id, claims.expires_at)
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
        user=UserOut.model_validate(user),
    )


async def rotate(session: AsyncSession, tokens: TokenService, refresh_token: str) -> TokenPair | None:
    """Exchange a refresh token for a new pair.

    Presenting an already-rotated token means it was copied: every session of the user is revoked and None is
    returned (the caller answers 401 and lets the revocation commit).
    """
    claims = tokens.verify(refresh_token, "refresh")
    row = await repo.get_refresh_token(session, claims.token_id)
    if row is None or row.user_id != claims.user_id or row.expires_at <= datetime.now(UTC):
        raise Unauthorized("invalid refresh token", code="invalid_token")
    if row.revoked_at is not None:
        await repo.revoke_all_refresh_tokens(session, row.user_id)
        return None
    user = await repo.get_user(session, row.user_id)
    if user is None:
        raise Unauthorized("account no longer exists", code="invalid_token")
    await repo.revoke_refresh_token(session, row.id)
    return await issue_tokens(session, tokens, user)


async def logout(session: AsyncSession, tokens: TokenService, refresh_token: str) -> None:
    """Revoke a refresh token (idempotent; an invalid token is simply ignored)."""
    try:
        claims = tokens.verify(refresh_token, "refresh")
    except Unauthorized:
        return
    await repo.revoke_refresh_token(session, claims.token_id)
