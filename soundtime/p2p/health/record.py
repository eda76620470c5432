"""What remote playback, the keeper and the admin routes record about a track's health (caller commits).

Every change locks the track's row (created on first use), so concurrent strikes on one track all count.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.p2p.health import repository as repo
from soundtime.p2p.health.states import HEALTHY, Health, after_failure, after_success, truncate_error


async def state_of(session: AsyncSession, track_id: uuid.UUID) -> str:
    """The track's health state ("healthy" when nothing was ever recorded)."""
    return await repo.state_of(session, track_id)


async def record_success(session: AsyncSession, track_id: uuid.UUID) -> None:
    """A verified transfer: failures reset, degraded or (automatically) dereferenced → recovered."""
    await change(session, track_id, after_success, last_success_at=func.now(), last_checked_at=func.now())


async def record_failure(session: AsyncSession, track_id: uuid.UUID, error: str) -> str:
    """A strike: degraded for 1-2 consecutive failures, dereferenced at 3; returns the new state.

    A manual dereference is left as it is (and "dereferenced" returned); an unknown track is "healthy".
    """
    health = await change(
        session,
        track_id,
        after_failure,
        last_failure_at=func.now(),
        last_checked_at=func.now(),
        last_error=truncate_error(error),
    )
    return HEALTHY if health is None else health.state


async def strike_if(
    session: AsyncSession, track_id: uuid.UUID, expected: str, error: str
) -> tuple[Health | None, bool]:
    """A strike, unless the track left state ``expected`` meanwhile: (its health afterwards, whether struck)."""
    current = await repo.lock(session, track_id)
    if current is None or current.manually_dereferenced:
        return current, False
    if current.state != expected:
        await repo.save(session, track_id, current, last_checked_at=func.now())
        return current, False
    new = after_failure(current)
    stamps = {"last_failure_at": func.now(), "last_checked_at": func.now(), "last_error": truncate_error(error)}
    await repo.save(session, track_id, new, **stamps)
    return new, True


async def change(
    session: AsyncSession, track_id: uuid.UUID, transition: Callable[[Health], Health], **stamps: Any
) -> Health | None:
    """Apply ``transition`` to the locked row with ``stamps``; a manual dereference is not touched at all.

    Returns the new health, None when the track does not exist.
    """
    current = await repo.lock(session, track_id)
    if current is None or current.manually_dereferenced:
        return current
    new = transition(current)
    await repo.save(session, track_id, new, **stamps)
    return new


async def set_by_admin(session: AsyncSession, track_id: uuid.UUID, transition: Callable[[Health], Health]) -> None:
    """An administrator's dereference or re-reference (applied whatever the current state)."""
    current = await repo.lock(session, track_id)
    if current is not None:
        await repo.save(session, track_id, transition(current))
