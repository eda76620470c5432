"""One supervisor for background tasks: named, tracked, failures logged, cancelled together when it closes.

A :class:`Jobs` may have groups (child supervisors closed with it, or on their own first), so one running
federation node holds every task it started in one tree: its components', its transport's and its LAN
discovery's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobRunner(Protocol):
    """What a component needs to run background work."""

    def spawn(self, coro: Coroutine[Any, Any, T], name: str, *, log_failure: bool = True) -> asyncio.Task[T]:
        """Run ``coro`` as a named background task (see :meth:`Jobs.spawn`)."""
        ...


class Jobs:
    """Background tasks of one owner. Failures are logged (``expected`` exception types at info level, without a
    traceback); once :meth:`close` has begun, a new job is cancelled before it runs."""

    def __init__(self, name: str, *, expected: tuple[type[BaseException], ...] = ()) -> None:
        self.name = name
        self._expected = expected
        self._tasks: set[asyncio.Task[Any]] = set()
        self._groups: list[Jobs] = []
        self._closing = False

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called (no job runs any more)."""
        return self._closing

    def __len__(self) -> int:
        """Jobs running now, in this supervisor and its groups."""
        return len(self._tasks) + sum(len(group) for group in self._groups)

    def group(self, name: str, *, expected: tuple[type[BaseException], ...] | None = None) -> Jobs:
        """A child supervisor: closed with this one (or earlier, on its own)."""
        child = Jobs(f"{self.name} {name}", expected=self._expected if expected is None else expected)
        child._closing = self._closing
        self._groups.append(child)
        return child

    def spawn(self, coro: Coroutine[Any, Any, T], name: str, *, log_failure: bool = True) -> asyncio.Task[T]:
        """Run ``coro`` in the background. The task is returned so callers may await it or add callbacks.

        While closing, the task is created already cancelled (its body never runs; its callbacks still see it
        end). ``log_failure=False`` leaves a failure to whoever awaits the task (it is still marked retrieved).
        """
        task = asyncio.get_running_loop().create_task(coro, name=name)
        if self._closing:
            task.cancel()
            return task
        self._tasks.add(task)
        task.add_done_callback(self._done if log_failure else self._done_quietly)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if isinstance(exc, self._expected):
            log.info("%s: %s", task.get_name(), exc)
        else:
            log.error("%s failed", task.get_name(), exc_info=exc)

    def _done_quietly(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()

    async def close(self) -> None:
        """Cancel every job (groups first) and wait until they have ended; later jobs never run."""
        self._closing = True
        for group in self._groups:
            await group.close()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
