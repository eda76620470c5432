"""Migrations: an empty database goes to head and back down; the head schema equals the models."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from soundtime.kit import migrations
from soundtime.models import Base

EXPECTED_TABLES = {
    "users",
    "refresh_tokens",
    "artists",
    "albums",
    "covers",
    "tracks",
    "imported_files",
    "remote_track_sources",
    "peers",
    "peer_links",
    "blocked_domains",
    "instance_settings",
    "track_health",
    "playlists",
    "playlist_entries",
    "track_annotations",
    "album_annotations",
    "artist_annotations",
    "plays",
    "play_queues",
    "play_queue_entries",
    "app_passwords",
    "api_keys",
}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def _diff(url: str) -> list[object]:
    engine = create_async_engine(url)

    def compare(sync: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(sync), Base.metadata))

    async with engine.connect() as conn:
        diff = await conn.run_sync(compare)
    await engine.dispose()
    return diff


async def _triggers(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        names = {row[0] for row in result}
    await engine.dispose()
    return names


async def test_upgrade_to_head_and_down_to_base(make_database: Callable[[str], str]) -> None:
    url = make_database("migrations_round_trip")
    assert await migrations.current_revision(url) is None

    await _in_thread(migrations.upgrade, url)
    assert await migrations.current_revision(url) == migrations.head_revision()
    assert await _tables(url) == EXPECTED_TABLES
    assert {"tracks_search_vector", "tracks_search_vector_insert"} <= await _triggers(url)
    assert await _diff(url) == [], "the models and the migrations disagree; write a migration"

    await _in_thread(migrations.downgrade, url, "base")
    assert await _tables(url) == set()
    assert await _triggers(url) == set()

    await _in_thread(migrations.upgrade, url)  # and up again from nothing
    assert await _tables(url) == EXPECTED_TABLES


async def _in_thread(function: Callable[..., None], *args: str) -> None:
    import asyncio

    await asyncio.to_thread(function, *args)
