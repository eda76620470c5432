"""A transcode's worker thread and its line to the event loop: a bounded hand-over of chunks, prompt stopping.

The worker thread produces chunks; one coroutine on the event loop consumes them. At most ``capacity`` chunks
wait between them, so a slow listener pauses the worker instead of filling memory. The thread waits on the loop
only through :meth:`Worker.call` (handing over a chunk is one such call, reading a remote track's bytes another),
and :meth:`Worker.stop` cancels whatever it is waiting for: a stopped worker wakes at once, raises
:class:`~soundtime.streaming.transcode.encoder.Stopped` out of its job and closes its FFmpeg contexts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from soundtime.streaming.transcode.encoder import Stopped

log = logging.getLogger(__name__)

T = TypeVar("T")
#: A listener that takes no chunk for this long (a player paused for ten minutes) lets its transcode go.
STALL_SECONDS = 600.0


class Stalled(Exception):
    """The listener took nothing for :data:`STALL_SECONDS`: the transcode was stopped to free its slot."""


class Worker:
    """One job in its own thread, feeding chunks to the event loop that created it.

    ``job(worker)`` runs in the thread; it hands chunks over with :meth:`emit` and may await other coroutines on
    the loop with :meth:`call`. ``on_exit(error)`` runs on the loop once the thread is done (with the job's
    exception — :class:`Stopped` after a stop — or None after a clean end): that is where resources held for the
    job are released.
    """

    def __init__(
        self,
        job: Callable[[Worker], object],
        *,
        capacity: int,
        name: str,
        on_exit: Callable[[BaseException | None], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._job = job
        self._capacity = capacity
        self._on_exit = on_exit
        self._chunks: deque[bytes] = deque()
        self._changed = asyncio.Event()
        self._lock = threading.Lock()
        self._waiting: concurrent.futures.Future[Any] | None = None
        self._stopped = False
        self.exited = asyncio.Event()
        self.error: BaseException | None = None
        self.result: object = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    # --- the worker thread's side ---------------------------------------------------------------------------------

    def stopped(self) -> bool:
        """Whether the consumer stopped the job (the job should return promptly)."""
        return self._stopped

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the event loop and wait for its result (from the worker thread only).

        Raises :class:`Stopped` if the worker is or gets stopped meanwhile, ``TimeoutError`` after ``timeout``.
        """
        with self._lock:
            if self._stopped:
                coroutine.close()
                raise Stopped
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
            self._waiting = future
        try:
            return future.result(timeout)
        except concurrent.futures.CancelledError:
            raise Stopped from None
        except TimeoutError:
            future.cancel()
            raise
        finally:
            with self._lock:
                self._waiting = None

    def emit(self, chunk: bytes) -> None:
        """Hand a chunk to the consumer, waiting while ``capacity`` chunks are still untaken."""
        try:
            self.call(self._put(chunk), STALL_SECONDS)
        except TimeoutError:
            raise Stalled(f"the listener took nothing for {STALL_SECONDS:.0f} s") from None

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            self.result = self._job(self)
        except BaseException as exc:  # Stopped too: a consumer still reading must not take the stream as complete
            error = exc
        try:
            self._loop.call_soon_threadsafe(self._exit, error)
        except RuntimeError:  # the loop is closed: the process is going away
            log.debug("transcode worker ended after its event loop closed")

    # --- the event loop's side ------------------------------------------------------------------------------------

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _put(self, chunk: bytes) -> None:
        while len(self._chunks) >= self._capacity:
            await self._changed.wait()
        self._chunks.append(chunk)
        self._notify()

    def _exit(self, error: BaseException | None) -> None:
        self.error = error
        self.exited.set()
        self._notify()
        self._on_exit(error)

    async def next_chunk(self) -> bytes | None:
        """The next chunk; None once the job ended cleanly; the job's exception if it failed."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._notify()
                return chunk
            if self.exited.is_set():
                if self.error is not None:
                    raise self.error
                return None
            await self._changed.wait()

    def stop(self) -> None:
        """Ask the job to stop and wake the thread if it waits on the loop (idempotent, from the loop)."""
        with self._lock:
            self._stopped = True
            waiting = self._waiting
        if waiting is not None:
            waiting.cancel()
        self._chunks.clear()

    def join(self, timeout: float) -> bool:
        """Wait for the thread (blocking; for shutdown); True if it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
