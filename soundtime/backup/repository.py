"""The SQL of backups: what a database snapshot refers to, and whether a database is empty."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from soundtime.models import Cover, Track


async def export_snapshot(conn: AsyncConnection) -> str:
    """Export the snapshot of ``conn``'s repeatable-read transaction for pg_dump (valid while it stays open)."""
    return str((await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one())


async def schema_revision(conn: AsyncConnection) -> str | None:
    """The alembic revision recorded in the database, None when it has none."""
    exists = (await conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))).scalar_one()
    if not exists:
        return None
    return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()


async def local_audio(conn: AsyncConnection) -> dict[str, int]:
    """Digest → size of every track whose audio the audio store holds."""
    rows = await conn.execute(select(Track.content_hash, Track.file_size).where(Track.file_path.is_not(None)))
    return dict(rows.all())


async def covers(conn: AsyncConnection) -> dict[str, int]:
    """Digest → size of every cover image."""
    return dict((await conn.execute(select(Cover.hash, Cover.size))).all())


async def user_tables(conn: AsyncConnection) -> list[str]:
    """The tables of the database's ``public`` schema (empty for a new database)."""
    rows = await conn.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename LIMIT 20")
    )
    return list(rows.scalars())
