"""Blob digests and the values that name a blob: :class:`BlobRef` (published) and :class:`PendingBlob` (sealed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from soundtime.blobs.errors import HashMismatch, InvalidDigest

__all__ = ["DIGEST_RE", "BlobRef", "PendingBlob", "check_digest", "is_digest", "require_digest"]

# \A and \Z rather than ^ and $: "$" also matches before a trailing newline.
DIGEST_RE: re.Pattern[str] = re.compile(r"\A[0-9a-f]{64}\Z")


def is_digest(value: str) -> bool:
    """Whether ``value`` is a lowercase 64-hex digest (the only form turned into a path)."""
    return isinstance(value, str) and DIGEST_RE.match(value) is not None


def require_digest(value: str) -> str:
    """``value`` if it is a digest; :class:`InvalidDigest` otherwise."""
    if not is_digest(value):
        raise InvalidDigest(value)
    return value


def check_digest(expected: str | None, actual: str) -> None:
    """:class:`HashMismatch` unless ``expected`` is None or equals ``actual``."""
    if expected is not None and require_digest(expected) != actual:
        raise HashMismatch(expected, actual)


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A committed blob; ``created`` is False when identical bytes were already stored."""

    digest: str
    size: int
    created: bool


@dataclass(frozen=True, slots=True)
class PendingBlob:
    """Bytes sealed (read-only, fsynced) in the store's temp area but not yet published; picklable."""

    digest: str
    size: int
    temp_path: Path
