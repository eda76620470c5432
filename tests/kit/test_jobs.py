"""The background-task supervisor: named jobs, failures logged by kind, groups, nothing runs once closing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from soundtime.kit.jobs import Jobs


class Expected(Exception):
    """A failure the owner expects (logged without a traceback)."""


async def test_jobs_run_are_counted_and_a_close_cancels_them_all() -> None:
    jobs = Jobs("owner")
    group = jobs.group("part")
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = jobs.spawn(forever(), "forever")
    inner = group.spawn(forever(), "inner")
    await started.wait()
    assert len(jobs) == 2
    assert len(group) == 1

    await jobs.close()

    assert task.cancelled()
    assert inner.cancelled()
    assert len(jobs) == 0
    assert group.closing


async def test_a_job_spawned_while_closing_never_runs_but_its_callbacks_see_it_end() -> None:
    jobs = Jobs("owner")
    await jobs.close()
    ran: list[str] = []
    ended: list[bool] = []

    async def body() -> None:
        ran.append("ran")

    task = jobs.spawn(body(), "late")
    task.add_done_callback(lambda t: ended.append(t.cancelled()))
    await asyncio.gather(task, return_exceptions=True)

    assert ran == []
    assert ended == [True]
    late_group = jobs.group("late group")
    assert late_group.closing  # a group made after the close is closed too


async def test_failures_are_logged_expected_ones_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    jobs = Jobs("owner", expected=(Expected,))

    async def fails(exc: Exception) -> None:
        raise exc

    caplog.set_level(logging.INFO, logger="soundtime.kit.jobs")
    quiet = jobs.spawn(fails(RuntimeError("left to the caller")), "quiet", log_failure=False)
    jobs.spawn(fails(Expected("peer gone")), "expected one")
    jobs.spawn(fails(RuntimeError("bug")), "broken one")
    await asyncio.sleep(0.01)

    records = {(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records}
    assert ("INFO", "expected one: peer gone", False) in records
    assert ("ERROR", "broken one failed", True) in records
    assert not any("left to the caller" in r.getMessage() for r in caplog.records)
    with pytest.raises(RuntimeError, match="left to the caller"):
        await quiet
    assert len(jobs) == 0


async def test_closing_a_group_leaves_its_parent_running() -> None:
    jobs = Jobs("owner")
    group = jobs.group("part")
    parent_job = jobs.spawn(asyncio.sleep(10), "parent")
    child_job = group.spawn(asyncio.sleep(10), "child")

    await group.close()

    assert child_job.cancelled()
    assert not parent_job.done()
    assert not jobs.closing
    await jobs.close()
    assert parent_job.cancelled()
