"""All SQL of monitoring: the counts ``/metrics`` reads at scrape time."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.models import BlockedDomain, Peer


async def peer_counts(session: AsyncSession) -> tuple[int, int, int]:
    """(known peers, online peers, blocked domains and node ids) in one round trip."""
    row = (
        await session.execute(
            select(
                select(func.count()).select_from(Peer).scalar_subquery(),
                select(func.count()).where(Peer.is_online).select_from(Peer).scalar_subquery(),
                select(func.count()).select_from(BlockedDomain).scalar_subquery(),
            )
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
