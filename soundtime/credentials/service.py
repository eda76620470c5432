"""Creating, listing and revoking client-app credentials, and finding the user behind one."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.credentials import crypto
from soundtime.credentials import repository as repo
from soundtime.kit.errors import Conflict, NotFound
from soundtime.models import ApiKey, AppPassword, User

#: A user has at most this many app passwords, and as many API keys.
MAX_PER_USER = 50


async def create_app_password(
    session: AsyncSession, box: crypto.SecretBox, user_id: uuid.UUID, name: str
) -> tuple[AppPassword, str]:
    """A new app password for a device: (its row, the password in clear — shown once, never again)."""
    if await repo.count_app_passwords(session, user_id) >= MAX_PER_USER:
        raise Conflict(f"at most {MAX_PER_USER} app passwords; revoke one first", code="too_many_app_passwords")
    password = crypto.new_app_password()
    return await repo.add_app_password(session, user_id, name, box.seal(user_id, password)), password


async def revoke_app_password(session: AsyncSession, user_id: uuid.UUID, password_id: uuid.UUID) -> None:
    """Delete one of the user's app passwords (404 if it is not theirs)."""
    if not await repo.delete_app_password(session, user_id, password_id):
        raise NotFound("no such app password", code="app_password_not_found")


async def create_api_key(session: AsyncSession, user_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
    """A new API key: (its row, the key in clear — shown once, never again)."""
    if await repo.count_api_keys(session, user_id) >= MAX_PER_USER:
        raise Conflict(f"at most {MAX_PER_USER} API keys; revoke one first", code="too_many_api_keys")
    key = crypto.new_api_key()
    return await repo.add_api_key(session, user_id, name, crypto.api_key_hash(key), key[:10]), key


async def revoke_api_key(session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """Delete one of the user's API keys (404 if it is not theirs)."""
    if not await repo.delete_api_key(session, user_id, key_id):
        raise NotFound("no such API key", code="api_key_not_found")


async def user_by_app_password(
    session: AsyncSession, box: crypto.SecretBox, username: str, matches: Callable[[str], bool]
) -> tuple[User | None, bool]:
    """(the user named ``username`` if one of their app passwords ``matches``, whether the user exists).

    ``matches`` is given each spelling of each app password (see :func:`crypto.spellings`): the Subsonic token
    check compares ``md5(password + salt)``, the password check compares the password itself.
    """
    found = await repo.user_with_app_passwords(session, username)
    if found is None:
        return None, False
    user, rows = found
    for row in rows:
        secret = box.open(user.id, row.sealed)
        if secret is not None and any(matches(spelling) for spelling in crypto.spellings(secret)):
            await repo.touch(session, row)
            return user, True
    return None, True


async def user_by_api_key(session: AsyncSession, key: str) -> User | None:
    """The owner of an API key (None for an unknown or revoked key)."""
    found = await repo.user_by_api_key(session, crypto.api_key_hash(key))
    if found is None:
        return None
    user, row = found
    await repo.touch(session, row)
    return user
