"""All SQL of the admin feature."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.admin.schemas import InstanceSettings, Stats
from soundtime.models import Album, Artist, InstanceSetting, Peer, Track, User


async def load_instance_settings(session: AsyncSession) -> InstanceSettings:
    """Stored values over the defaults; unknown or invalid stored keys are ignored."""
    rows = (await session.execute(select(InstanceSetting.key, InstanceSetting.value))).all()
    stored = {key: value for key, value in rows if key in InstanceSettings.model_fields}
    defaults = InstanceSettings().model_dump()
    try:
        return InstanceSettings.model_validate({**defaults, **stored})
    except ValueError:
        return InstanceSettings()


async def save_instance_settings(session: AsyncSession, changes: dict[str, Any]) -> None:
    """Upsert the given keys."""
    for key, value in changes.items():
        stmt = insert(InstanceSetting).values(key=key, value=value)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_at": func.now()})
        await session.execute(stmt)


async def stats(session: AsyncSession) -> Stats:
    """Instance-wide counts in one round trip."""
    local = Track.origin_node.is_(None)
    row = (
        await session.execute(
            select(
                select(func.count()).select_from(User).scalar_subquery(),
                select(func.count()).select_from(Artist).scalar_subquery(),
                select(func.count()).select_from(Album).scalar_subquery(),
                select(func.count()).select_from(Track).scalar_subquery(),
                select(func.count()).where(local).select_from(Track).scalar_subquery(),
                select(func.coalesce(func.sum(Track.file_size), 0)).where(local).scalar_subquery(),
                select(func.count()).select_from(Peer).scalar_subquery(),
                select(func.count()).where(Peer.is_online).select_from(Peer).scalar_subquery(),
            )
        )
    ).one()
    users, artists, albums, tracks, local_tracks, local_bytes, peers, online = row
    return Stats(
        users=users,
        artists=artists,
        albums=albums,
        tracks=tracks,
        local_tracks=local_tracks,
        remote_tracks=tracks - local_tracks,
        local_audio_bytes=int(local_bytes),
        peers=peers,
        online_peers=online,
    )
