"""All SQL of client-app credentials."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.models import ApiKey, AppPassword, User

#: ``last_used_at`` is written at most this often per credential (not on every request of a busy client).
TOUCH_EVERY = timedelta(minutes=1)


async def count_app_passwords(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many app passwords a user has."""
    stmt = select(func.count()).select_from(AppPassword).where(AppPassword.user_id == user_id)
    return int((await session.execute(stmt)).scalar_one())


async def add_app_password(session: AsyncSession, user_id: uuid.UUID, name: str, sealed: bytes) -> AppPassword:
    """Insert an app password."""
    row = AppPassword(user_id=user_id, name=name, sealed=sealed)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def app_passwords(session: AsyncSession, user_id: uuid.UUID) -> list[AppPassword]:
    """A user's app passwords, newest first."""
    stmt = (
        select(AppPassword)
        .where(AppPassword.user_id == user_id)
        .order_by(AppPassword.created_at.desc(), AppPassword.id)
    )
    return list((await session.execute(stmt)).scalars())


async def delete_app_password(session: AsyncSession, user_id: uuid.UUID, password_id: uuid.UUID) -> bool:
    """Delete one of a user's app passwords; False when the user has none with this id."""
    stmt = delete(AppPassword).where(AppPassword.id == password_id, AppPassword.user_id == user_id)
    return bool((await session.execute(stmt.returning(AppPassword.id))).first())


async def count_api_keys(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many API keys a user has."""
    stmt = select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user_id)
    return int((await session.execute(stmt)).scalar_one())


async def add_api_key(session: AsyncSession, user_id: uuid.UUID, name: str, key_hash: str, prefix: str) -> ApiKey:
    """Insert an API key (its hash)."""
    row = ApiKey(user_id=user_id, name=name, key_hash=key_hash, prefix=prefix)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def api_keys(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    """A user's API keys, newest first."""
    stmt = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return list((await session.execute(stmt)).scalars())


async def delete_api_key(session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    """Delete one of a user's API keys; False when the user has none with this id."""
    stmt = delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
    return bool((await session.execute(stmt.returning(ApiKey.id))).first())


async def user_with_app_passwords(session: AsyncSession, username: str) -> tuple[User, list[AppPassword]] | None:
    """The user named ``username`` (case-insensitive) and their app passwords (one statement: every request of a
    client app asks)."""
    stmt = (
        select(User, AppPassword)
        .outerjoin(AppPassword, AppPassword.user_id == User.id)
        .where(func.lower(User.username) == username.lower())
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    return rows[0][0], [password for _, password in rows if password is not None]


async def user_by_api_key(session: AsyncSession, key_hash: str) -> tuple[User, ApiKey] | None:
    """The owner of the API key with this hash, and the key."""
    stmt = select(User, ApiKey).join(ApiKey, ApiKey.user_id == User.id).where(ApiKey.key_hash == key_hash)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def touch(session: AsyncSession, row: AppPassword | ApiKey) -> None:
    """Record that a credential was used now (skipped when it was recorded less than a minute ago)."""
    now = datetime.now(UTC)
    if row.last_used_at is not None and now - row.last_used_at < TOUCH_EVERY:
        return
    model = type(row)
    await session.execute(update(model).where(model.id == row.id).values(last_used_at=now))
