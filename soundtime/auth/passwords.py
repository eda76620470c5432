"""Argon2id password hashing (argon2-cffi, RFC 9106 parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hash and verify passwords; verification of an unknown user still costs one hash (no timing oracle)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("soundtime-dummy-password")

    def hash(self, password: str) -> str:
        """Return an encoded Argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """True if ``password`` matches ``encoded``; with ``encoded=None`` do the same work and return False."""
        try:
            return self._hasher.verify(encoded or self._dummy_hash, password) and encoded is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with weaker parameters than the current ones."""
        return self._hasher.check_needs_rehash(encoded)
