"""A per-account brake on password guessing that cannot lock the owner out."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from soundtime.kit.ratelimit import RateLimiter

REMEMBER_SIGN_INS = 30 * 24 * 3600.0


class LoginThrottle:
    """Count failed logins per account; past the limit, accept attempts only from familiar addresses.

    An address becomes familiar for an account when the account signs in from it (remembered in memory for
    30 days, bounded). Guesses spread over many addresses are stopped, while the owner, signing in from their
    usual network, is never locked out by someone else's failures.
    """

    def __init__(
        self,
        failures_per_minute: int,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures = RateLimiter(failures_per_minute, 60.0, max_keys=max_entries, clock=clock)
        self._familiar: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def retry_after(self, account: str, client: str) -> float:
        """0 if an attempt for ``account`` from ``client`` may proceed, else the seconds to wait."""
        key = account.lower()
        blocked = self._failures.blocked(key)
        if blocked == 0 or self._is_familiar(key, client):
            return 0.0
        return blocked

    def failed(self, account: str) -> None:
        """Record a failed attempt."""
        self._failures.record(account.lower())

    def succeeded(self, account: str, client: str) -> None:
        """Remember ``client`` as a familiar address of ``account``."""
        entry = (account.lower(), client)
        self._familiar[entry] = self._clock() + REMEMBER_SIGN_INS
        self._familiar.move_to_end(entry)
        while len(self._familiar) > self._max_entries:
            self._familiar.popitem(last=False)

    def _is_familiar(self, account: str, client: str) -> bool:
        until = self._familiar.get((account, client))
        return until is not None and until > self._clock()
