"""Argon2id password hashing (argon2-cffi, RFC 9106 parameters), bounded in concurrency."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from soundtime.kit.errors import ServiceUnavailable

T = TypeVar("T")


class Passwords:
    """Hash and verify passwords.

    Each hash costs ~64 MiB and tens of milliseconds of CPU, so at most ``max_concurrent`` run at once (in
    worker threads); a caller that waits longer than ``wait`` seconds for a slot gets a 503. Verifying for an
    unknown user still costs one hash, so response times do not reveal which usernames exist.
    """

    def __init__(self, hasher: PasswordHasher | None = None, *, max_concurrent: int | None = None, wait: float = 10.0):
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("soundtime-dummy-password")
        self._slots = asyncio.Semaphore(max_concurrent or os.cpu_count() or 1)
        self._wait = wait

    def hash(self, password: str) -> str:
        """Return an encoded Argon2id hash of ``password`` (blocking)."""
        return self._hasher.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """True if ``password`` matches ``encoded``; with ``encoded=None`` do the same work and return False."""
        try:
            return self._hasher.verify(encoded or self._dummy_hash, password) and encoded is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(encoded)

    async def hash_async(self, password: str) -> str:
        """:meth:`hash` in a worker thread, within the concurrency bound."""
        return await self._bounded(self.hash, password)

    async def verify_async(self, encoded: str | None, password: str) -> bool:
        """:meth:`verify` in a worker thread, within the concurrency bound."""
        return await self._bounded(self.verify, encoded, password)

    async def _bounded(self, function: Callable[..., T], *args: object) -> T:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait)
        except TimeoutError:
            raise ServiceUnavailable("the server is busy checking passwords; try again in a moment") from None
        try:
            return await asyncio.to_thread(function, *args)
        finally:
            self._slots.release()
