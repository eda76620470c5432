"""Play history: plays recorded by the browser's player or scrobbled by client apps, counted per user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.errors import NotFound
from soundtime.listening import repository as repo

#: Plays kept per user (older ones are forgotten; their counts stay in the annotations).
HISTORY_KEPT = 10_000
#: The history is trimmed after about one play in this many (trimming costs one indexed query).
PRUNE_EVERY = 50
#: A play time this far in the future is a client's clock error: it is taken as now.
CLOCK_SKEW = timedelta(minutes=5)


def _when(played_at: datetime | None, now: datetime) -> datetime:
    if played_at is None or played_at.tzinfo is None or played_at > now + CLOCK_SKEW:
        return now
    return min(played_at, now)


async def record(
    session: AsyncSession,
    user_id: uuid.UUID,
    plays: Sequence[tuple[uuid.UUID, datetime | None]],
    client: str | None,
) -> None:
    """Record plays of tracks (at the given times, default now); 404 when a track is unknown."""
    refs = await repo.track_refs(session, [track for track, _ in plays])
    missing = [track for track, _ in plays if track not in refs]
    if missing:
        raise NotFound(f"no such track: {missing[0]}", code="track_not_found")
    now = datetime.now(UTC)
    ids = await repo.record_plays(session, user_id, [(refs[track], _when(at, now)) for track, at in plays], client)
    if any(play_id % PRUNE_EVERY == 0 for play_id in ids):
        await repo.prune_plays(session, user_id, HISTORY_KEPT)
