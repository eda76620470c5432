"""A small in-process sliding-window rate limiter with bounded memory."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class RateLimiter:
    """Allow at most ``limit`` events per ``window`` seconds per key (e.g. per client IP).

    Memory is bounded by ``max_keys``: the least recently used keys are forgotten first.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> float:
        """Record an event for ``key``; return 0 if allowed, else the seconds until one would be allowed."""
        retry_after = self.blocked(key)
        if retry_after == 0:
            self.record(key)
        return retry_after

    def blocked(self, key: str) -> float:
        """0 if an event for ``key`` would be allowed now, else the seconds until it would (records nothing)."""
        events = self._events.get(key)
        if events is None:
            return 0.0
        horizon = self._clock() - self.window
        while events and events[0] <= horizon:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] + self.window - self._clock()
        return 0.0

    def record(self, key: str) -> None:
        """Count an event for ``key`` (whether or not it was allowed)."""
        events = self._events.get(key)
        if events is None:
            events = deque()
            self._events[key] = events
            if len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(self._clock())
