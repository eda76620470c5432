"""The play queue saved per user, so that another device resumes it (same tracks, same one, same second)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.errors import Unprocessable
from soundtime.listening import repository as repo
from soundtime.listening.playlists import check_tracks
from soundtime.listening.schemas import MAX_ENTRIES


@dataclass(frozen=True, slots=True)
class SavedQueue:
    """A saved queue: tracks in order, the index of the one playing, the position in it."""

    track_ids: list[uuid.UUID]
    current_index: int | None
    position_ms: int
    changed_at: datetime
    changed_by: str


async def save(
    session: AsyncSession,
    user_id: uuid.UUID,
    track_ids: Sequence[uuid.UUID],
    *,
    current_index: int | None,
    position_ms: int,
    client: str,
) -> None:
    """Replace the user's saved queue; an empty list clears it."""
    if len(track_ids) > MAX_ENTRIES:
        raise Unprocessable(f"a play queue holds at most {MAX_ENTRIES} entries", code="queue_full")
    if not track_ids:
        await repo.clear_queue(session, user_id)
        return
    if current_index is not None and not 0 <= current_index < len(track_ids):
        raise Unprocessable("current_index must point at one of the tracks", code="no_such_entry")
    await check_tracks(session, track_ids)
    await repo.save_queue(
        session, user_id, track_ids, current=current_index, position_ms=position_ms, changed_by=client[:64]
    )


async def load(session: AsyncSession, user_id: uuid.UUID) -> SavedQueue | None:
    """The user's saved queue (None when there is none). Tracks removed since are left out."""
    found = await repo.get_queue(session, user_id)
    if found is None:
        return None
    queue, entries = found
    current = next((i for i, (position, _) in enumerate(entries) if position == queue.current_position), None)
    return SavedQueue(
        track_ids=[track for _, track in entries],
        current_index=current,
        position_ms=int(queue.position_ms) if current is not None else 0,
        changed_at=queue.changed_at,
        changed_by=queue.changed_by,
    )


async def clear(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Forget the user's saved queue."""
    await repo.clear_queue(session, user_id)
