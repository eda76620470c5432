"""The parameters of a Subsonic request (query string and, for POST, the urlencoded form), validated on use.

Every value is bounded in number and size, and NUL characters (which PostgreSQL cannot store) are refused, so no
client input reaches the database or a file path unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from soundtime.subsonic.errors import Code, SubsonicError, missing

MAX_PARAMETERS = 20_000
MAX_VALUE_LENGTH = 8192
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class Params:
    """A multi-valued parameter bag; the accessors raise :class:`SubsonicError` for bad or missing values."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for count, (name, value) in enumerate(pairs, 1):
            if count > MAX_PARAMETERS:
                raise SubsonicError(Code.GENERIC, f"too many parameters (at most {MAX_PARAMETERS})")
            if len(value) > MAX_VALUE_LENGTH or "\x00" in value or "\x00" in name:
                raise SubsonicError(Code.GENERIC, f"invalid value for parameter {name[:40]!r}")
            self._values.setdefault(name, []).append(value)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str) -> str | None:
        """The first value of ``name``."""
        values = self._values.get(name)
        return values[0] if values else None

    def require(self, name: str) -> str:
        """The first value of ``name``; error 10 when it is absent or empty."""
        value = self.get(name)
        if not value:
            raise missing(name)
        return value

    def all(self, name: str) -> list[str]:
        """Every value of ``name`` (repeated parameters), empty ones left out."""
        return [value for value in self._values.get(name, []) if value]

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        """An integer, clamped to [minimum, maximum] (what clients expect of counts and offsets)."""
        value = self.optional_integer(name)
        return default if value is None else max(minimum, min(maximum, value))

    def optional_integer(self, name: str) -> int | None:
        """An integer or None; error 0 for something that is not one."""
        raw = self.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = int(raw.strip())
        except ValueError:
            raise SubsonicError(Code.GENERIC, f"parameter {name} must be an integer") from None
        if not -(1 << 62) < value < 1 << 62:
            raise SubsonicError(Code.GENERIC, f"parameter {name} is out of range")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """``true``/``false`` (also 1/0, yes/no); anything else is the default."""
        raw = (self.get(name) or "").strip().lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        return default

    def timestamps_ms(self, name: str) -> list[datetime]:
        """Every value of ``name`` as a time given in milliseconds since the epoch."""
        times = []
        for raw in self.all(name):
            try:
                times.append(datetime.fromtimestamp(int(raw.strip()) / 1000, UTC))
            except (OverflowError, OSError, ValueError):
                raise SubsonicError(Code.GENERIC, f"parameter {name} is not a time in milliseconds") from None
        return times
