"""When to try an unreachable peer again, and which online peers a round exchanges peer lists with."""

from __future__ import annotations

from collections.abc import Sequence

#: The exponent stops growing here (the cap is reached long before with any sensible base).
MAX_DOUBLINGS = 16
#: A delay is multiplied by 1 - JITTER/2 ... 1 + JITTER/2, so peers that failed together do not retry together.
JITTER = 0.5


def retry_delay(failures: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds until the next contact attempt: ``base * 2**failures`` (at most ``cap``), then a jitter of ±25 %.

    ``failures`` counts earlier failures (0 for the first); ``jitter`` is a uniform draw in [0, 1).
    """
    delay = min(base * 2.0 ** min(max(failures, 0), MAX_DOUBLINGS), cap)
    return delay * (1 - JITTER / 2 + jitter * JITTER)


def rotate(candidates: Sequence[str], cursor: int, fanout: int) -> tuple[list[str], int]:
    """``fanout`` of ``candidates`` starting at ``cursor`` (wrapping), and the cursor of the next round.

    Over successive rounds with the same candidates every one of them is chosen in turn.
    """
    if not candidates or fanout <= 0:
        return [], cursor
    start = cursor % len(candidates)
    chosen = (list(candidates[start:]) + list(candidates[:start]))[:fanout]
    return chosen, cursor + fanout
