"""Pooled connections: one that idled is checked before use, one used a moment ago is trusted (and a dead one found
either way is replaced)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from soundtime.kit import db as db_module
from soundtime.kit.db import Database, is_unavailable
from tests.support.db_proxy import DatabaseRelay


async def _backend_pid(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_that_idled_is_checked_and_replaced_when_the_database_restarted(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # every connection has idled long enough
    async with DatabaseRelay.running(database_url) as relay:
        database = Database(relay.url, pool_size=1)
        try:
            before = await _backend_pid(database)
            await relay.down()  # cuts the pooled connection, as a database restart would
            await relay.up()
            assert await _backend_pid(database) != before  # no error: the check found it dead, a new one served
        finally:
            await database.dispose()


async def test_a_connection_used_a_moment_ago_is_not_checked(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    async with DatabaseRelay.running(database_url) as relay:
        database = Database(relay.url, pool_size=1)
        try:
            before = await _backend_pid(database)
            assert await _backend_pid(database) == before  # the same connection, reused
            await relay.down()
            await relay.up()
            with pytest.raises(DBAPIError) as raised:  # unchecked: the stale connection fails once ...
                await _backend_pid(database)
            assert is_unavailable(raised.value)  # ... as "database unavailable" (a 503 for a request)
            assert await _backend_pid(database) != before  # ... and the pool is renewed
        finally:
            await database.dispose()
