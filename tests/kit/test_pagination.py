"""Opaque keyset cursors."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soundtime.kit.errors import BadRequest
from soundtime.kit.pagination import decode_cursor, encode_cursor


def test_round_trip_of_typed_keys() -> None:
    key = (datetime(2026, 11, 21, 5, 6, 7, 123456, tzinfo=UTC), uuid.uuid4(), "Été", 42)
    assert decode_cursor(encode_cursor(*key), datetime, uuid.UUID, str, int) == key


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "e30", encode_cursor("a"), encode_cursor(1, 2), encode_cursor("x", "not-a-uuid"), "A" * 600],
)
def test_foreign_cursors_are_a_400(cursor: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(cursor, str, uuid.UUID)


@given(st.text(max_size=200))
def test_random_cursors_never_raise_anything_else(cursor: str) -> None:
    with contextlib.suppress(BadRequest):
        decode_cursor(cursor, datetime, uuid.UUID)
