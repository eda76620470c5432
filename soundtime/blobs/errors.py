"""Errors raised by the blob store."""

from __future__ import annotations

__all__ = ["BlobError", "BlobNotFound", "BlobTooLarge", "HashMismatch", "InvalidDigest"]


class BlobError(Exception):
    """Base class for blob store errors.

    Subclasses keep their constructor arguments in ``args`` so that they survive pickling
    (e.g. when raised in an import worker process).
    """


class InvalidDigest(BlobError, ValueError):
    """A string that is not a lowercase 64-hex BLAKE3 digest."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        shown = self.value[:80] if isinstance(self.value, str) else self.value
        return f"not a lowercase 64-hex BLAKE3 digest: {shown!r}"


class BlobTooLarge(BlobError):
    """A blob exceeds the size limit given by the caller."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit

    def __str__(self) -> str:
        return f"blob exceeds the limit of {self.limit} bytes"


class HashMismatch(BlobError):
    """The bytes written do not hash to the digest the caller expected."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(expected, actual)
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return f"expected BLAKE3 {self.expected}, got {self.actual}"


class BlobNotFound(BlobError, FileNotFoundError):
    """No blob is stored under this digest."""

    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self.digest = digest

    def __str__(self) -> str:
        return f"no blob {self.digest}"
