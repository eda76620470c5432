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
        now = self._clock()
        events = self._events.get(key)
        if events is None:
            events = deque()
            self._events[key] = events
            if len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        horizon = now - self.window
        while events and events[0] <= horizon:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] + self.window - now
        events.append(now)
        return 0.0
