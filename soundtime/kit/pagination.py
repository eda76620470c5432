"""Keyset pagination: opaque cursors that carry the sort key of the last row of a page."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from soundtime.kit.errors import BadRequest

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_MAX_CURSOR_LENGTH = 512


class Page(BaseModel, Generic[T]):
    """One page of an ordered list; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(description="cursor of the next page; null on the last page")


def page_of(rows: Sequence[R], limit: int, key: Callable[[R], tuple[Any, ...]], item: Callable[[R], T]) -> Page[T]:
    """A page from ``limit + 1`` fetched rows: the extra row only tells that a next page exists."""
    shown = rows[:limit]
    next_cursor = encode_cursor(*key(shown[-1])) if len(rows) > limit else None
    return Page(items=[item(row) for row in shown], next_cursor=next_cursor)


def encode_cursor(*key: Any) -> str:
    """Encode a sort key (strings, numbers, UUIDs, datetimes) as a URL-safe cursor."""
    raw = json.dumps([_plain(value) for value in key], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return str(value) if isinstance(value, uuid.UUID) else value


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """Decode a cursor into values of ``types`` (str, int, float, UUID, datetime); 400 if it is not ours."""
    try:
        if len(cursor) > _MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        return tuple(_coerce(value, kind) for value, kind in zip(values, types, strict=True))
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError, binascii.Error) as exc:
        raise BadRequest("invalid cursor", code="invalid_cursor") from exc


def _coerce(value: Any, kind: type) -> Any:
    if kind is datetime:
        if not isinstance(value, dict) or not isinstance(value.get("t"), str):
            raise TypeError("expected a datetime")
        parsed = datetime.fromisoformat(value["t"])
        if parsed.tzinfo is None:
            raise ValueError("naive datetime")
        return parsed.astimezone(UTC)  # OverflowError past year 1..9999 in UTC (e.g. 0001-01-01T00:00+14:00)
    if kind is uuid.UUID:
        if not isinstance(value, str):
            raise TypeError("expected a UUID string")
        return uuid.UUID(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"expected {kind.__name__}")
    if isinstance(value, str) and ("\x00" in value or _unencodable(value)):
        raise ValueError("not a string PostgreSQL can compare")
    if isinstance(value, int) and not -(1 << 63) <= value < 1 << 63:
        raise ValueError("integer out of range")
    return value


def _unencodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
