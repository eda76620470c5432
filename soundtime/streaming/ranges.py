"""HTTP Range header parsing (RFC 9110 §14), pure and total: every input yields a decision."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
_MAX_DIGITS = 19  # anything longer cannot be a position in a real file


class Unsatisfiable(Exception):
    """The range lies entirely outside the representation (answer 416)."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range ``first``..``last`` of a representation of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` header value of a 206 response."""
        return f"bytes {self.first}-{self.last}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:  # noqa: PLR0911 - a decision table
    """Decide how to answer a ``Range`` header for a representation of ``size`` bytes.

    Returns None to send the whole representation (no header, another unit, a syntactically invalid or a
    multi-range header — servers may ignore those), a :class:`ByteRange` for a 206, or raises
    :class:`Unsatisfiable` for a 416. Single ranges ``a-b`` / ``a-`` and suffix ranges ``-n`` are honoured.
    """
    if not header:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _SPEC.match(spec)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS or not (first_text or last_text):
        return None
    if not first_text:  # suffix range: the last n bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1, size)
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid range-spec: ignore the header
    if first >= size:
        raise Unsatisfiable
    last = min(int(last_text), size - 1) if last_text else size - 1
    return ByteRange(first, last, size)
