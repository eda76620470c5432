"""All SQL of the auth feature."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.models import RefreshToken, User


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with ``user_id``."""
    return await session.get(User, user_id)


_ACCOUNT_STATE = select(User.disabled_at.is_not(None), User.token_generation).where(User.id == bindparam("id"))


async def account_state(session: AsyncSession, user_id: uuid.UUID) -> tuple[bool, int] | None:
    """(whether it is disabled, its token generation) of an account; None when there is no such account. One
    statement built once, no ORM object: what a request that only needs to know who asks pays."""
    row = (await session.execute(_ACCOUNT_STATE, {"id": user_id})).first()
    return None if row is None else (bool(row[0]), int(row[1]))


async def find_user(session: AsyncSession, username: str) -> User | None:
    """The user named ``username`` (case-insensitive)."""
    stmt = select(User).where(func.lower(User.username) == username.lower())
    return (await session.execute(stmt)).scalar_one_or_none()


_ACCOUNT_CREATION_LOCK = {"cls": 0x5354, "key": 1}  # an advisory lock: logins and other writes are not blocked


async def lock_account_creation(session: AsyncSession) -> None:
    """Serialise account creation until the end of the transaction (one first admin, no duplicate names)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:cls, :key)"), _ACCOUNT_CREATION_LOCK)


async def count_users(session: AsyncSession) -> int:
    """How many accounts exist."""
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def add_user(session: AsyncSession, username: str, password_hash: str, role: str) -> User:
    """Insert a user and return it with its generated columns."""
    user = User(username=username, password_hash=password_hash, role=role)
    session.add(user)
    await session.flush()
    await session.refresh(user)
    return user


async def list_users(session: AsyncSession) -> list[User]:
    """Every user, oldest first."""
    return list((await session.execute(select(User).order_by(User.created_at, User.id))).scalars())


async def users_page(session: AsyncSession, limit: int, after: str | None) -> list[User]:
    """Users in case-insensitive username order after the name ``after`` (lower-cased), at most ``limit``."""
    stmt = select(User).order_by(func.lower(User.username)).limit(limit)
    if after is not None:
        stmt = stmt.where(func.lower(User.username) > after)
    return list((await session.scalars(stmt)).all())


async def count_active_admins(session: AsyncSession) -> int:
    """Administrators whose account is not disabled."""
    stmt = select(func.count()).select_from(User).where(User.role == "admin", User.disabled_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def revoked_accounts(session: AsyncSession) -> dict[uuid.UUID, tuple[bool, int]]:
    """{user id: (disabled, token generation)} of the accounts that are disabled or had tokens revoked."""
    stmt = select(User.id, User.disabled_at.is_not(None), User.token_generation).where(
        or_(User.disabled_at.is_not(None), User.token_generation > 0)
    )
    return {user_id: (bool(disabled), int(generation)) for user_id, disabled, generation in await session.execute(stmt)}


async def add_refresh_token(
    session: AsyncSession, token_id: uuid.UUID, user_id: uuid.UUID, expires_at: datetime
) -> None:
    """Remember an issued refresh token."""
    session.add(RefreshToken(id=token_id, user_id=user_id, expires_at=expires_at))
    await session.flush()


async def get_refresh_token(session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    """The refresh token row, locked for this transaction (rotation must not race)."""
    stmt = select(RefreshToken).where(RefreshToken.id == token_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_refresh_token(
    session: AsyncSession, token_id: uuid.UUID, replaced_by: uuid.UUID | None = None
) -> None:
    """Mark one refresh token revoked (rotated into ``replaced_by``, or signed out when None)."""
    values = {"revoked_at": datetime.now(UTC), "replaced_by": replaced_by}
    await session.execute(update(RefreshToken).where(RefreshToken.id == token_id).values(**values))


async def revoke_all_refresh_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Revoke every live refresh token of a user (after a revoked token was presented again)."""
    stmt = (
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    await session.execute(stmt)


async def touch_login(session: AsyncSession, user: User, password_hash: str | None = None) -> None:
    """Record a successful login (and upgrade the stored hash when its parameters are outdated)."""
    user.last_login_at = datetime.now(UTC)
    if password_hash is not None:
        user.password_hash = password_hash
    await session.flush()
