"""One unit of work (:meth:`Database.transaction`): committed or rolled back as a whole, its callbacks run once the
outcome is known, its connection back in the pool and its session closed in every case."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import QueuePool

from soundtime.kit.db import Database, on_commit, on_rollback
from soundtime.models import Peer

NODE = "ab" * 32


def _checked_out(db: Database) -> int:
    """Connections of the pool in use."""
    pool: QueuePool = db.engine.sync_engine.pool  # type: ignore[assignment]
    return pool.checkedout()


def _record_outcome(session: AsyncSession, calls: list[str]) -> None:
    on_commit(session, lambda: calls.append("commit"))
    on_rollback(session, lambda: calls.append("rollback"))


async def _add_peer(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Peer(node_id=NODE, source="manual"))


async def _peers(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Peer))).scalar_one())


async def test_a_block_that_succeeds_is_committed_and_its_commit_callbacks_run(db: Database) -> None:
    calls: list[str] = []
    async with db.transaction() as session:
        session.add(Peer(node_id=NODE, source="manual"))
        _record_outcome(session, calls)
        assert calls == []  # nothing runs before the outcome is known
    assert calls == ["commit"]
    assert await _peers(db) == 1
    assert _checked_out(db) == 0


async def test_objects_read_in_a_transaction_are_detached_when_it_ends(db: Database) -> None:
    await _add_peer(db)
    async with db.transaction() as session:
        peer = await session.get(Peer, NODE)
        assert peer is not None
    assert inspect(peer).detached
    assert peer.source == "manual"  # still readable: nothing expired at the commit


async def test_a_block_that_raises_is_rolled_back_and_its_rollback_callbacks_run(db: Database) -> None:
    calls: list[str] = []

    async def give_up() -> None:
        async with db.transaction() as session:
            session.add(Peer(node_id=NODE, source="manual"))
            await session.flush()  # the row is written, inside the transaction
            _record_outcome(session, calls)
            raise LookupError("the service gave up")

    with pytest.raises(LookupError):
        await give_up()
    assert calls == ["rollback"]
    assert await _peers(db) == 0
    assert _checked_out(db) == 0


async def test_a_commit_that_fails_runs_the_rollback_callbacks(db: Database) -> None:
    await _add_peer(db)
    calls: list[str] = []

    async def add_again() -> None:
        async with db.transaction() as session:
            session.add(Peer(node_id=NODE, source="exchange"))  # the same key: the flush at commit fails
            _record_outcome(session, calls)

    with pytest.raises(IntegrityError):
        await add_again()
    assert calls == ["rollback"]
    assert _checked_out(db) == 0
    async with db.transaction() as session:
        kept = await session.get(Peer, NODE)
    assert kept is not None
    assert kept.source == "manual"


async def test_a_task_cancelled_inside_a_transaction_rolls_it_back(db: Database) -> None:
    calls: list[str] = []
    written = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as session:
            session.add(Peer(node_id=NODE, source="manual"))
            await session.flush()
            on_rollback(session, lambda: calls.append("rollback"))
            written.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(work())
    await written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == ["rollback"]
    assert _checked_out(db) == 0
    assert await _peers(db) == 0


async def test_a_failing_callback_does_not_stop_the_others(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("callback bug")

    async with db.transaction() as session:
        session.add(Peer(node_id=NODE, source="manual"))
        on_commit(session, broken)
        on_commit(session, lambda: calls.append("second"))
    assert calls == ["second"]
    assert "callback failed" in caplog.text
    assert await _peers(db) == 1
