"""Stars (favourites) and ratings of tracks, albums and artists, per user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.errors import NotFound
from soundtime.listening import repository as repo
from soundtime.listening.repository import Annotation, Kind


async def check_exist(session: AsyncSession, kind: Kind, ids: Sequence[uuid.UUID]) -> None:
    """404 when one of ``ids`` is not a known track / album / artist."""
    missing = set(ids) - await repo.existing_ids(session, kind, ids)
    if missing:
        raise NotFound(f"no such {kind}: {sorted(missing)[0]}", code=f"{kind}_not_found")


async def star(session: AsyncSession, user_id: uuid.UUID, kind: Kind, ids: Sequence[uuid.UUID]) -> None:
    """Star items (starring again keeps the first date)."""
    await check_exist(session, kind, ids)
    await repo.set_starred(session, user_id, kind, ids)


async def unstar(session: AsyncSession, user_id: uuid.UUID, kind: Kind, ids: Sequence[uuid.UUID]) -> None:
    """Remove stars (idempotent)."""
    await repo.clear_starred(session, user_id, kind, ids)


async def rate(session: AsyncSession, user_id: uuid.UUID, kind: Kind, item_id: uuid.UUID, rating: int) -> None:
    """Rate an item 1..5 stars; 0 removes the rating."""
    await check_exist(session, kind, [item_id])
    await repo.set_rating(session, user_id, kind, item_id, rating or None)


async def annotation(session: AsyncSession, user_id: uuid.UUID, kind: Kind, item_id: uuid.UUID) -> Annotation:
    """A user's marks on one item (404 for an unknown item)."""
    await check_exist(session, kind, [item_id])
    found = await repo.annotations_of(session, user_id, kind, [item_id])
    return found.get(item_id, repo.NO_ANNOTATION)
