"""Re-syncs started by an administrator: ask a peer for its whole catalogue and follow the pages that arrive.

A re-sync is ``running`` from the request until the peer has sent as many tracks as its Pong announced
(``done``), or until no catalogue page arrived for :attr:`Resyncs.idle_timeout` seconds (``failed``, with the
reason). The pages are counted where they are ingested (``Inbound``'s CatalogSync handler calls
:meth:`Resyncs.page_received`). State lives in memory: it describes this process's requests, not the catalogue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from soundtime.p2p.policy import Limits, Timings

ResyncState = Literal["running", "done", "failed"]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class ResyncRunning(Exception):
    """A re-sync of this peer is already running."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Resync:
    """Progress of one re-sync of one peer."""

    node_id: str
    started_at: datetime
    #: The track count the peer announced (its Pong), None until it answered.
    expected_tracks: int | None = None
    state: ResyncState = "running"
    pages: int = 0
    tracks_received: int = 0
    tracks_accepted: int = 0
    tracks_skipped: int = 0
    last_page_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    _progress: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class Resyncs:
    """The node's re-syncs, at most one running per peer. Use from the event loop."""

    def __init__(
        self,
        spawn: Spawn,
        *,
        idle_timeout: float = Timings.resync_idle_timeout,
        max_remembered: int = Limits.max_remembered_resyncs,
    ) -> None:
        self._spawn = spawn
        #: Seconds without a catalogue page after which a running re-sync is given up (pages are acknowledged
        #: one by one, each within 30 s, so a live peer is never this quiet while it sends).
        self.idle_timeout = idle_timeout
        #: Finished re-syncs remembered at most (the oldest finished ones are forgotten first).
        self.max_remembered = max_remembered
        self._by_peer: dict[str, Resync] = {}

    def get(self, node_id: str) -> Resync | None:
        """The running or last re-sync of a peer."""
        return self._by_peer.get(node_id)

    def running(self) -> int:
        """How many re-syncs are running."""
        return sum(r.state == "running" for r in self._by_peer.values())

    def begin(self, node_id: str) -> Resync:
        """Reserve a re-sync of ``node_id`` before its request is sent; :class:`ResyncRunning` if one runs."""
        current = self._by_peer.get(node_id)
        if current is not None and current.state == "running":
            raise ResyncRunning(node_id)
        resync = Resync(node_id=node_id, started_at=_now())
        self._by_peer.pop(node_id, None)
        self._by_peer[node_id] = resync  # newest last: the oldest finished ones are forgotten first
        self._trim()
        return resync

    def requested(self, resync: Resync, expected_tracks: int) -> None:
        """The peer has the request and announced ``expected_tracks``: follow its pages (or finish at once)."""
        resync.expected_tracks = expected_tracks
        if not self._finish_if_complete(resync):
            self._spawn(self._watch(resync), f"re-sync watch {resync.node_id[:16]}")

    def failed(self, resync: Resync, error: str) -> None:
        """The re-sync could not be requested (or stopped): record why."""
        if resync.state == "running":
            resync.state, resync.error, resync.finished_at = "failed", error, _now()
            resync._progress.set()

    def page_received(self, node_id: str, tracks: int, accepted: int, skipped: int) -> None:
        """A catalogue page from ``node_id`` was ingested (hook; nothing happens unless a re-sync runs)."""
        resync = self._by_peer.get(node_id)
        if resync is None or resync.state != "running":
            return
        resync.pages += 1
        resync.tracks_received += tracks
        resync.tracks_accepted += accepted
        resync.tracks_skipped += skipped
        resync.last_page_at = _now()
        self._finish_if_complete(resync)
        resync._progress.set()

    def _finish_if_complete(self, resync: Resync) -> bool:
        expected = resync.expected_tracks
        if expected is None or resync.tracks_received < expected:
            return False
        resync.state, resync.finished_at = "done", _now()
        return True

    async def _watch(self, resync: Resync) -> None:
        """Fail the re-sync when the peer stays quiet for :attr:`idle_timeout` seconds."""
        while resync.state == "running":
            resync._progress.clear()
            try:
                await asyncio.wait_for(resync._progress.wait(), self.idle_timeout)
            except TimeoutError:
                if resync.tracks_received == 0:
                    reason = (
                        f"the peer sent no catalogue page within {self.idle_timeout:g} s "
                        "(peers accept a catalogue request about once a minute; try again later)"
                    )
                else:
                    reason = (
                        f"the peer stopped sending after {resync.tracks_received} of "
                        f"{resync.expected_tracks} tracks (nothing arrived for {self.idle_timeout:g} s)"
                    )
                self.failed(resync, reason)

    def _trim(self) -> None:
        excess = len(self._by_peer) - self.max_remembered
        for node_id in [n for n, r in self._by_peer.items() if r.state != "running"][: max(excess, 0)]:
            del self._by_peer[node_id]
