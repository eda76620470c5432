"""Revoked tokens on routes that do not load the account: disabled accounts and revoked token generations.

Most routes load the account behind a token (``current_user``) and check it exactly. The busiest ones (media
streams, uploads, search) trust the token's signature to avoid a query per request; they ask this gate instead,
which holds the few accounts that are disabled or had their tokens revoked, re-read at most every
:data:`REFRESH_SECONDS` (so a change made by another process, e.g. ``soundtime user set-password``, counts
within that time; changes made by this process count at once).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from soundtime.auth import repository as repo
from soundtime.auth.tokens import Claims
from soundtime.kit.db import Database
from soundtime.kit.errors import Unauthorized

REFRESH_SECONDS = 2.0


def refuse(claims: Claims, *, disabled: bool, generation: int) -> None:
    """Raise 401 when the account is disabled or the token is from a revoked generation."""
    if disabled:
        raise Unauthorized("this account is disabled", code="account_disabled")
    if claims.generation != generation:
        raise Unauthorized("this session was signed out; sign in again", code="token_revoked")


class AccountGate:
    """The revoked accounts, cached for :data:`REFRESH_SECONDS`."""

    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.refresh_seconds = refresh_seconds
        self._revoked: dict[uuid.UUID, tuple[bool, int]] = {}
        self._loaded = -float("inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """An account changed in this process: read them again at the next check."""
        self._loaded = -float("inf")

    async def check(self, db: Database, claims: Claims) -> None:
        """401 when the token's account is disabled or its generation revoked."""
        if time.monotonic() - self._loaded > self.refresh_seconds:
            async with self._lock:
                if time.monotonic() - self._loaded > self.refresh_seconds:
                    async with db.transaction() as session:
                        self._revoked = await repo.revoked_accounts(session)
                    self._loaded = time.monotonic()
        disabled, generation = self._revoked.get(claims.user_id, (False, 0))
        refuse(claims, disabled=disabled, generation=generation)
