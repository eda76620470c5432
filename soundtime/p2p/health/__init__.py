"""Health of replicated tracks: persisted states, recoveries after failed plays, the periodic sweep, admin API.

Remote playback records every transfer with :func:`record_success` / :func:`record_failure` (in its own
session, committed by its caller) and asks :meth:`HealthKeeper.after_failed_play` for a recovery.
"""

from soundtime.p2p.health.keeper import HealthKeeper, Recovery
from soundtime.p2p.health.record import record_failure, record_success, state_of
from soundtime.p2p.health.schemas import SweepReport
from soundtime.p2p.health.states import DEGRADED, DEREFERENCED, HEALTHY, RECOVERED, STATES

__all__ = [
    "DEGRADED",
    "DEREFERENCED",
    "HEALTHY",
    "RECOVERED",
    "STATES",
    "HealthKeeper",
    "Recovery",
    "SweepReport",
    "record_failure",
    "record_success",
    "state_of",
]
