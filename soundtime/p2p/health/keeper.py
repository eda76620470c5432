"""Recovery of replicated tracks that fail to play, and the periodic sweep over every replicated track.

A recovery asks the track's sources, origin first and then the best copies, whether they still offer its blob
(a probe: the peer announces the size, no audio is transferred). At most :data:`MAX_RECOVERIES` run at once
across the keeper, one at a time per track; recoveries requested by failed plays beyond a bounded queue are
dropped. The sweep walks the replicated tracks in id order, :data:`BATCH_SIZE` at a time: healthy and recovered
tracks are only counted (their check stamped in one statement per batch), degraded tracks get a recovery
attempt (no answer: one strike), automatically dereferenced tracks are re-referenced when their blob is cached
or a source answers again; an administrator's dereference is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.db import Database
from soundtime.kit.jobs import JobRunner
from soundtime.p2p import repository as p2p_repo
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.errors import PeerError, PeerUnavailable
from soundtime.p2p.health import record
from soundtime.p2p.health import repository as repo
from soundtime.p2p.health.schemas import StateCounts, SweepReport
from soundtime.p2p.health.states import DEGRADED, DEREFERENCED, HEALTHY, RECOVERED, after_success
from soundtime.p2p.plans.sources import RemoteTrack, SourceRow, SourceWalk
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Blobs, Blocklist

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Recovery:
    """The outcome of one recovery: whether the blob is available again, and the track's state afterwards."""

    answered: bool
    state: str | None
    struck: bool = False


@dataclass(frozen=True, slots=True)
class _Probed:
    answered: bool
    error: str
    #: (node id, whether it answered) for every source actually asked.
    results: tuple[tuple[str, bool], ...]


class HealthKeeper:
    """Keeps replicated tracks in service: recoveries after failed plays and the periodic sweep."""

    def __init__(
        self,
        *,
        db: Database,
        policy: Policy,
        jobs: JobRunner,
        messenger: Blobs,
        blocklist: Blocklist,
        cache: AudioCache,
        clock: Clock = _utcnow,
    ) -> None:
        self._db = db
        self._policy = policy
        self._jobs = jobs
        self._messenger = messenger
        self._blocklist = blocklist
        self._cache = cache
        self._clock = clock
        self._slots = asyncio.Semaphore(self._policy.limits.max_recoveries)
        self._queued = 0
        self._running: dict[uuid.UUID, asyncio.Task[Recovery]] = {}
        self._sweep_task: asyncio.Task[SweepReport] | None = None
        #: The last sweep's report since this process started (the persisted one survives restarts).
        self.last_report: SweepReport | None = None

    # --- recoveries -----------------------------------------------------------------------------------------

    def after_failed_play(self, track_id: uuid.UUID, failed: Iterable[str] = ()) -> asyncio.Task[Recovery] | None:
        """Schedule a recovery of a track whose play failed (its strike is already recorded by the caller).

        ``failed`` are the sources that just failed the play: they are not asked (a peer that announces the
        blob and then breaks off would otherwise "recover" the track after every failed play).

        Returns the recovery's task (the running one when this track is already being recovered), or None when
        the queue is full and the request was dropped. Needs no ``await``; awaiting the task gives the outcome.
        """
        running = self._running.get(track_id)
        if running is not None and not running.done():
            return running
        if self._queued >= self._policy.limits.max_queued_recoveries:
            log.warning("track health: recovery of %s dropped, %d recoveries already queued", track_id, self._queued)
            return None
        self._queued += 1
        task = self._start(track_id, self._recover_after_play(track_id, set(failed)))
        task.add_done_callback(self._unqueue)
        return task

    def _unqueue(self, _: asyncio.Task[Recovery]) -> None:
        self._queued -= 1

    def _start(self, track_id: uuid.UUID, job: Coroutine[Any, Any, Recovery]) -> asyncio.Task[Recovery]:
        task: asyncio.Task[Recovery] = self._jobs.spawn(job, f"recover track {track_id}")
        self._running[track_id] = task

        def forget(done: asyncio.Task[Recovery]) -> None:
            if self._running.get(track_id) is done:
                del self._running[track_id]

        task.add_done_callback(forget)
        return task

    async def _recover_after_play(self, track_id: uuid.UUID, failed: set[str]) -> Recovery:
        async with self._db.transaction() as session:
            target = await repo.target(session, track_id)
        if target is None:
            return Recovery(answered=False, state=None)
        return await self._recover(target, strike=None, unreachable=failed)

    async def _recover(
        self,
        target: RemoteTrack,
        *,
        strike: str | None,
        unreachable: set[str],
        sources: list[SourceRow] | None = None,
    ) -> Recovery:
        """Probe the sources and record the outcome; no answer strikes only when the track is still ``strike``.

        ``sources`` are the track's sources when the caller read them already (the sweep does, per batch).
        """
        async with self._slots:
            probed = await self._probe(target, unreachable, sources)
            async with self._db.transaction() as session:
                await _record_sources(session, target.id, probed.results)
                if probed.answered:
                    now = func.now()
                    health = await record.change(
                        session, target.id, after_success, last_success_at=now, last_checked_at=now
                    )
                    return Recovery(answered=True, state=health.state if health is not None else None)
                if strike is not None:
                    health, struck = await record.strike_if(session, target.id, strike, probed.error)
                    state = health.state if health is not None else None
                    return Recovery(answered=False, state=state, struck=struck)
                await repo.mark_checked(session, [target.id], states=(DEREFERENCED,))
                return Recovery(answered=False, state=await repo.state_of(session, target.id))

    async def _probe(self, target: RemoteTrack, unreachable: set[str], sources: list[SourceRow] | None) -> _Probed:
        """Whether the blob is cached or a source (origin first, then best copy) announces the right size."""
        if target.content_hash in self._cache:
            return _Probed(True, "", ())
        if sources is None:
            async with self._db.transaction() as session:
                sources = await p2p_repo.sources_of(session, target.id)
        walk = SourceWalk.of(target, sources, is_blocked=self._blocklist.is_blocked, unreachable=unreachable)
        while (node_id := walk.next()) is not None:
            try:
                size = await self._messenger.probe_blob(node_id, target.content_hash, max_size=max(target.file_size, 1))
            except PeerUnavailable as exc:
                walk.unavailable(node_id, str(exc))
            except PeerError as exc:
                walk.failed(node_id, str(exc))
            else:
                walk.offered(node_id, size)
        return _Probed(walk.answered, "" if walk.answered else walk.error, tuple(walk.results))

    # --- the sweep ------------------------------------------------------------------------------------------

    @property
    def sweeping(self) -> bool:
        """Whether a sweep is running."""
        return self._sweep_task is not None and not self._sweep_task.done()

    def start_sweep(self) -> asyncio.Task[SweepReport]:
        """Start a sweep in the background, or return the running one."""
        if self._sweep_task is None or self._sweep_task.done():
            self._sweep_task = self._jobs.spawn(self._sweep(), "track health sweep")
        return self._sweep_task

    async def sweep(self) -> SweepReport:
        """Sweep every replicated track once (joining the running sweep if there is one); returns the report."""
        return await asyncio.shield(self.start_sweep())

    async def run_periodically(self) -> None:
        """Sweep every ``sweep_interval`` seconds, the first one an interval after start."""
        while True:
            await asyncio.sleep(self._policy.timings.sweep_interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("track health sweep failed")

    async def _sweep(self) -> SweepReport:
        started_at = self._clock()
        began = time.perf_counter()
        states: Counter[str] = Counter(dict.fromkeys((HEALTHY, RECOVERED, DEGRADED, DEREFERENCED), 0))
        outcomes: Counter[str] = Counter()
        unreachable: set[str] = set()
        checked = 0
        after: uuid.UUID | None = None
        while True:
            async with self._db.transaction() as session:
                rows = await repo.sweep_batch(session, after, self._policy.limits.sweep_batch)
                await repo.mark_checked(session, [r.target.id for r in rows if r.state in (HEALTHY, RECOVERED)])
                work = [row for row in rows if _needs_recovery(row)]
                sources = await repo.sources_of_many(session, [row.target.id for row in work])
            if not rows:
                break
            after = rows[-1].target.id
            checked += len(rows)
            for row in rows:
                if not _needs_recovery(row):
                    states[row.state or HEALTHY] += 1
            jobs = (self._sweep_one(row, unreachable, sources[row.target.id]) for row in work)
            for state, outcome in await asyncio.gather(*jobs):
                states[state] += 1
                outcomes[outcome] += 1
            if len(rows) < self._policy.limits.sweep_batch:
                break
        duration = time.perf_counter() - began
        report = SweepReport(
            started_at=started_at,
            finished_at=self._clock(),
            duration=round(duration, 3),
            checked=checked,
            counts=StateCounts(**states),
            recovered=outcomes["recovered"],
            struck=outcomes["struck"],
            rereferenced=outcomes["rereferenced"],
        )
        async with self._db.transaction() as session:
            await repo.save_report(session, report.model_dump(mode="json"))
        self.last_report = report
        log.info(
            "track health sweep: %d tracks in %.2f s, %d recovered, %d struck, %d re-referenced",
            checked,
            duration,
            report.recovered,
            report.struck,
            report.rereferenced,
        )
        return report

    async def _sweep_one(self, row: repo.SweepRow, unreachable: set[str], sources: list[SourceRow]) -> tuple[str, str]:
        """Recover one degraded or dereferenced track: (its state afterwards, what happened)."""
        seen = row.state or HEALTHY
        task = self._running.get(row.target.id)
        if task is None or task.done():  # else a failed play's recovery is running: its outcome counts
            strike = DEGRADED if seen == DEGRADED else None
            job = self._recover(row.target, strike=strike, unreachable=unreachable, sources=sources)
            task = self._start(row.target.id, job)
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:  # logged by the node's job wrapper
            return seen, "failed"
        state = result.state or seen
        if result.answered and state == RECOVERED:
            return state, "recovered" if seen == DEGRADED else "rereferenced"
        return state, "struck" if result.struck else "unchanged"


def _needs_recovery(row: repo.SweepRow) -> bool:
    """Degraded tracks, and dereferenced ones unless an administrator dereferenced them."""
    return row.state == DEGRADED or (row.state == DEREFERENCED and not row.manually_dereferenced)


async def _record_sources(session: AsyncSession, track_id: uuid.UUID, results: tuple[tuple[str, bool], ...]) -> None:
    for node_id, ok in results:
        await p2p_repo.record_source_result(session, track_id, node_id, ok=ok)
