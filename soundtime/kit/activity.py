"""When something last happened, for background work that yields to people (catalogue ingest to listeners)."""

from __future__ import annotations

import time
from collections.abc import Callable


class LastSeen:
    """The monotonic time of the latest :meth:`mark` (None before the first)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.at: float | None = None

    def mark(self) -> None:
        """It happened now."""
        self.at = self._clock()

    def within(self, seconds: float) -> bool:
        """Whether it happened less than ``seconds`` ago."""
        return self.at is not None and self._clock() - self.at < seconds
