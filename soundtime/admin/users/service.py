"""Users administration. Password hashing runs before any transaction (as in auth.service); account changes are
serialised (one advisory lock), so two administrators cannot together remove the last active administrator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from soundtime.admin.users.schemas import AdminUserOut, UserCreate, UserPatch
from soundtime.auth import repository as repo
from soundtime.auth import service as auth_service
from soundtime.context import AppContext
from soundtime.kit.errors import Conflict, NotFound
from soundtime.kit.pagination import Page, decode_cursor, page_of
from soundtime.models import User


def user_out(user: User) -> AdminUserOut:
    """The administrator's view of an account."""
    return AdminUserOut(
        id=user.id,
        username=user.username,
        role="admin" if user.is_admin else "user",
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        disabled=not user.is_active,
        disabled_at=user.disabled_at,
    )


async def list_users(context: AppContext, limit: int, cursor: str | None) -> Page[AdminUserOut]:
    """Accounts in case-insensitive username order, a page at a time."""
    after = decode_cursor(cursor, str)[0] if cursor else None
    async with context.db.transaction() as session:
        users = await repo.users_page(session, limit + 1, after)
    return page_of(users, limit, lambda user: (user.username.lower(),), user_out)


async def get_user(context: AppContext, user_id: uuid.UUID) -> AdminUserOut:
    """One account; 404 when unknown."""
    async with context.db.transaction() as session:
        user = await repo.get_user(session, user_id)
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        return user_out(user)


async def create_user(context: AppContext, body: UserCreate) -> AdminUserOut:
    """Create an account (registration may be closed); 409 when the name is taken."""
    password_hash = await context.passwords.hash_async(body.password)
    async with context.db.transaction() as session:
        user = await auth_service.create_user(session, body.username, password_hash, admin=body.role == "admin")
        return user_out(user)


async def update_user(context: AppContext, user_id: uuid.UUID, patch: UserPatch) -> AdminUserOut:
    """Change the role or disable / enable an account; 409 when that would leave no active administrator.

    Disabling signs the account out everywhere at once (refresh tokens revoked, access tokens refused).
    """
    async with context.db.transaction() as session:
        await repo.lock_account_creation(session)
        user = await repo.get_user(session, user_id)
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        demoted = patch.role == "user" or patch.disabled is True
        if user.is_admin and user.is_active and demoted and await repo.count_active_admins(session) <= 1:
            raise Conflict(
                "this is the last active administrator: make another account an administrator first",
                code="last_admin",
            )
        if patch.role is not None:
            user.role = patch.role
        if patch.disabled is True and user.is_active:
            user.disabled_at = datetime.now(UTC)
            await auth_service.sign_out_everywhere(session, user)
        elif patch.disabled is False:
            user.disabled_at = None
        await session.flush()
        result = user_out(user)
    context.account_gate.invalidate()
    return result


async def reset_password(context: AppContext, user_id: uuid.UUID, password: str) -> None:
    """Set a new password and sign the account out everywhere (the command line's set-password does the same)."""
    password_hash = await context.passwords.hash_async(password)
    async with context.db.transaction() as session:
        if not await auth_service.set_password(session, user_id, password_hash):
            raise NotFound("no such user", code="user_not_found")
    context.account_gate.invalidate()
