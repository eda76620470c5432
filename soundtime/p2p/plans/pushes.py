"""Catalog push coalescing: one push per peer at a time; what is asked for meanwhile becomes one follow-up."""

from __future__ import annotations

from enum import Enum


class Request(Enum):
    """What became of a push request."""

    START = "start"  #: no push runs to this peer: start one
    MERGED = "merged"  #: one runs: a follow-up push will run after it (merged with other requests meanwhile)
    DROPPED = "dropped"  #: one runs and this request was only a rate-limited refresh: nothing more to do


class PushQueue:
    """Which peers a push is running to, and the follow-up each one owes (full catalog or delta)."""

    def __init__(self) -> None:
        self._running: set[str] = set()
        self._again: dict[str, bool] = {}

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._running

    def request(self, node_id: str, *, full: bool, forced: bool) -> Request:
        """A push to ``node_id`` is asked for (``forced``: it must not be skipped for being recent)."""
        if node_id not in self._running:
            self._running.add(node_id)
            return Request.START
        if full or forced:
            self._again[node_id] = full or self._again.get(node_id, False)
            return Request.MERGED
        return Request.DROPPED

    def finished(self, node_id: str, *, cancelled: bool) -> bool | None:
        """The push to ``node_id`` ended: the follow-up to start now (True: full, False: delta), or None."""
        self._running.discard(node_id)
        full = self._again.pop(node_id, None)
        return None if cancelled else full

    def cancel(self, node_id: str) -> None:
        """Forget ``node_id`` (it was blocked): no follow-up; its owner stops the running push, whose end is then
        not reported (a later request starts afresh)."""
        self._again.pop(node_id, None)
        self._running.discard(node_id)
