"""How backup and restore report progress (the command line draws it with rich; tests may ignore it)."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Receives the steps of a long job and the bytes it works through."""

    def step(self, message: str) -> None:
        """A new step begins (one line for the operator)."""

    def begin(self, what: str, total_bytes: int) -> None:
        """A byte-counted step begins: ``total_bytes`` will be reported through :meth:`advance`."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes were worked through (called from worker threads)."""


class Silent:
    """A reporter that shows nothing."""

    def step(self, message: str) -> None:
        """Ignore."""

    def begin(self, what: str, total_bytes: int) -> None:
        """Ignore."""

    def advance(self, nbytes: int) -> None:
        """Ignore."""
