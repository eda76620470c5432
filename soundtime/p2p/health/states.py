"""Health states of a replicated track and the pure transitions between them.

``healthy`` (no trouble seen), ``degraded`` (1-2 consecutive failures), ``dereferenced`` (3 or more, or an
administrator's decision), ``recovered`` (was degraded or dereferenced, then worked again). An administrator's
dereference is sticky: only the administrator's re-reference changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

HEALTHY: Final = "healthy"
RECOVERED: Final = "recovered"
DEGRADED: Final = "degraded"
DEREFERENCED: Final = "dereferenced"
STATES: Final = (HEALTHY, RECOVERED, DEGRADED, DEREFERENCED)
State = Literal["healthy", "recovered", "degraded", "dereferenced"]

#: Consecutive failures after which a track is dereferenced.
DEREFERENCE_AFTER: Final = 3
#: The ``consecutive_failures`` column is a SMALLINT.
MAX_FAILURES: Final = 32767
#: Longest ``last_error`` kept.
MAX_ERROR_LENGTH: Final = 500


@dataclass(frozen=True, slots=True)
class Health:
    """What the transitions look at: state, consecutive failures and the administrator's pin."""

    state: str = HEALTHY
    consecutive_failures: int = 0
    manually_dereferenced: bool = False


def after_success(health: Health) -> Health:
    """A verified transfer or an answering source: failures reset; degraded/dereferenced become recovered."""
    if health.manually_dereferenced:
        return health
    state = RECOVERED if health.state in (DEGRADED, DEREFERENCED) else health.state
    return replace(health, state=state, consecutive_failures=0)


def after_failure(health: Health) -> Health:
    """A strike: degraded for 1-2 consecutive failures, dereferenced from the third on."""
    if health.manually_dereferenced:
        return health
    failures = min(health.consecutive_failures + 1, MAX_FAILURES)
    state = DEREFERENCED if failures >= DEREFERENCE_AFTER else DEGRADED
    return replace(health, state=state, consecutive_failures=failures)


def dereferenced_by_admin(health: Health) -> Health:
    """An administrator takes the track out of service until they re-reference it."""
    return replace(health, state=DEREFERENCED, manually_dereferenced=True)


def rereferenced_by_admin(health: Health) -> Health:
    """An administrator puts the track back in service: healthy, with a clean slate."""
    return Health(state=HEALTHY, consecutive_failures=0, manually_dereferenced=False)


def truncate_error(error: str) -> str:
    """``error`` cut to :data:`MAX_ERROR_LENGTH` characters."""
    return error if len(error) <= MAX_ERROR_LENGTH else error[: MAX_ERROR_LENGTH - 1] + "…"
