"""Migrations: an empty database goes to head and back down; the head schema equals the models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import DBAPIError
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


async def _scalar(url: str, statement: str) -> object:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        value = (await conn.exec_driver_sql(statement)).scalar()
    await engine.dispose()
    return value


async def test_an_interrupted_upgrade_is_finished_by_running_it_again(make_database: Callable[[str], str]) -> None:
    url = make_database("migrations_rerun")
    await _in_thread(migrations.upgrade, url, "0005")
    # A concurrent build that failed half-way leaves an INVALID index, here under a name the upgrade builds.
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.exec_driver_sql(
            "WITH a AS (INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'A') RETURNING id) "
            "INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_size) "
            f"SELECT gen_random_uuid(), 'T', a.id, 1, 'flac', '{'a' * 64}', 1 FROM a"
        )
        with pytest.raises(DBAPIError, match="division by zero"):
            await conn.exec_driver_sql("CREATE INDEX CONCURRENTLY ix_tracks_remote ON tracks ((1 / (id IS NULL)::int))")
    await engine.dispose()
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_tracks_remote'::regclass"
    assert await _scalar(url, valid) is False

    await _in_thread(migrations.upgrade, url)
    assert await _scalar(url, valid) is True
    assert await _diff(url) == []  # rebuilt with its real definition

    # Stopped after its first commit, before the revision was recorded: running it again finishes it.
    await _in_thread(migrations.stamp, url, "0005")
    await _in_thread(migrations.upgrade, url)
    assert await migrations.current_revision(url) == migrations.head_revision()
    assert await _diff(url) == []
