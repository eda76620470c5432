"""Registration, login and token rotation.

Password hashing (tens of milliseconds of CPU) never runs while a database connection, transaction or lock is
held: registration hashes before its transaction starts, and login looks the user up in one short transaction,
verifies with none open, then records the login in a second one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.admin.repository import load_instance_settings
from soundtime.auth import repository as repo
from soundtime.auth.gate import refuse
from soundtime.auth.passwords import Passwords
from soundtime.auth.schemas import Registration, TokenPair, UserOut
from soundtime.auth.tokens import ACCESS_TOKEN_TTL, TokenService
from soundtime.context import AppContext
from soundtime.kit.errors import Conflict, Forbidden, TooManyRequests, Unauthorized
from soundtime.models import RefreshToken, User

#: A refresh token presented again this soon after its rotation is a concurrent refresh (two tabs), not theft.
ROTATION_GRACE = timedelta(seconds=30)


async def register(session: AsyncSession, passwords: Passwords, username: str, password: str) -> User:
    """Create an account; the first one becomes admin, later ones need open registration."""
    password_hash = await passwords.hash_async(password)  # before the session connects: nothing is held
    await repo.lock_account_creation(session)
    first = await repo.count_users(session) == 0
    if not first and not (await load_instance_settings(session)).registration_open:
        raise Forbidden("registration is closed; ask an administrator for an account", code="registration_closed")
    return await create_user(session, username, password_hash, admin=first)


async def registration(session: AsyncSession) -> Registration:
    """Whether registration is open now, and whether the next account would be the first (the administrator)."""
    first = await repo.count_users(session) == 0
    return Registration(open=first or (await load_instance_settings(session)).registration_open, first_account=first)


async def create_user(session: AsyncSession, username: str, password_hash: str, *, admin: bool) -> User:
    """Create an account with an already hashed password (registration and the command line)."""
    await repo.lock_account_creation(session)
    if await repo.find_user(session, username) is not None:
        raise Conflict(f"the username {username!r} is taken", code="username_taken")
    return await repo.add_user(session, username, password_hash, "admin" if admin else "user")


async def login(context: AppContext, username: str, password: str, *, client: str) -> TokenPair:
    """Check credentials and issue tokens; the same error (and the same work) for a wrong user or password.

    Failures count against the account (see :class:`LoginThrottle`); a success makes ``client`` familiar.
    """
    retry_after = context.login_throttle.retry_after(username, client)
    if retry_after > 0:
        raise TooManyRequests(retry_after, "too many failed sign-ins for this account; try again later")
    async with context.db.transaction() as session:
        user = await repo.find_user(session, username)
        user_id, stored = (user.id, user.password_hash) if user else (None, None)
    passwords = context.passwords
    if not await passwords.verify_async(stored, password) or user_id is None or stored is None:
        context.login_throttle.failed(username)
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    new_hash = await passwords.hash_async(password) if passwords.needs_rehash(stored) else None
    async with context.db.transaction() as session:
        user = await repo.get_user(session, user_id)
        if user is None:
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        if not user.is_active:  # told only to someone who knows the password
            raise Forbidden("this account is disabled; ask an administrator", code="account_disabled")
        await repo.touch_login(session, user, new_hash)
        pair = await issue_tokens(session, context.tokens, user)
    context.login_throttle.succeeded(username, client)
    return pair


async def issue_tokens(session: AsyncSession, tokens: TokenService, user: User) -> TokenPair:
    """A new access token and a new (recorded) refresh token."""
    pair, _ = await _issue(session, tokens, user)
    return pair


async def _issue(session: AsyncSession, tokens: TokenService, user: User) -> tuple[TokenPair, uuid.UUID]:
    access, _ = tokens.issue(user.id, user.role, "access", generation=user.token_generation)
    refresh, claims = tokens.issue(user.id, user.role, "refresh", generation=user.token_generation)
    await repo.add_refresh_token(session, claims.token_id, user.id, claims.expires_at)
    pair = TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
        user=UserOut.model_validate(user),
    )
    return pair, claims.token_id


async def rotate(session: AsyncSession, tokens: TokenService, refresh_token: str) -> TokenPair | None:
    """Exchange a refresh token for a new pair.

    A token presented again after it was rotated means it was copied: every session of the user is revoked and
    None is returned (the caller answers 401 and lets the revocation commit). The one exception is a concurrent
    refresh (two tabs): once, within :data:`ROTATION_GRACE` of the rotation, while its successor is still live.
    """
    claims = tokens.verify(refresh_token, "refresh")
    row = await repo.get_refresh_token(session, claims.token_id)
    now = datetime.now(UTC)
    if row is None or row.user_id != claims.user_id or row.expires_at <= now:
        raise Unauthorized("invalid refresh token", code="invalid_token")
    user = await repo.get_user(session, row.user_id)
    if user is None:
        raise Unauthorized("account no longer exists", code="invalid_token")
    refuse(claims, disabled=not user.is_active, generation=user.token_generation)  # before the reuse alarm
    if row.revoked_at is not None and not await _concurrent_rotation(session, row, now):
        await repo.revoke_all_refresh_tokens(session, row.user_id)
        return None
    pair, new_id = await _issue(session, tokens, user)
    if row.revoked_at is None:
        await repo.revoke_refresh_token(session, row.id, replaced_by=new_id)
    else:
        row.reissued_at = now
    return pair


async def _concurrent_rotation(session: AsyncSession, row: RefreshToken, now: datetime) -> bool:
    if row.replaced_by is None or row.reissued_at is not None or row.revoked_at is None:
        return False
    if now - row.revoked_at > ROTATION_GRACE:
        return False
    successor = await repo.get_refresh_token(session, row.replaced_by)
    return successor is not None and successor.revoked_at is None


async def logout(session: AsyncSession, tokens: TokenService, refresh_token: str) -> None:
    """Revoke a refresh token (idempotent; an invalid token is simply ignored)."""
    try:
        claims = tokens.verify(refresh_token, "refresh")
    except Unauthorized:
        return
    await repo.revoke_refresh_token(session, claims.token_id)


async def sign_out_everywhere(session: AsyncSession, user: User) -> None:
    """Revoke every token of the user: refresh tokens at once, access tokens by a new token generation."""
    user.token_generation += 1
    await repo.revoke_all_refresh_tokens(session, user.id)


async def set_password(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> bool:
    """Replace a user's password hash and sign out every session; False when there is no such user."""
    user = await repo.get_user(session, user_id)
    if user is None:
        return False
    user.password_hash = password_hash
    await sign_out_everywhere(session, user)
    return True
