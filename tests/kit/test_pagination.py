"""Opaque keyset cursors."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soundtime.kit.errors import BadRequest
from soundtime.kit.pagination import decode_cursor, encode_cursor


def raw_cursor(values: object) -> str:
    """A cursor made by hand (JSON with \\u escapes), as a client could."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def test_round_trip_of_typed_keys() -> None:
    key = (datetime(2026, 11, 21, 5, 6, 7, 123456, tzinfo=UTC), uuid.uuid4(), "Été", 42)
    assert decode_cursor(encode_cursor(*key), datetime, uuid.UUID, str, int) == key


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "e30",
        encode_cursor("a"),
        encode_cursor(1, 2),
        encode_cursor("x", "not-a-uuid"),
        encode_cursor("a", 5),
        encode_cursor("a", [1]),
        encode_cursor("nul\x00", uuid.uuid4()),
        raw_cursor(["lone \ud800 surrogate", str(uuid.uuid4())]),
        encode_cursor(True, uuid.uuid4()),
        "A" * 600,
    ],
)
def test_foreign_cursors_are_a_400(cursor: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(cursor, str, uuid.UUID)


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59.999999-14:00",  # after year 9999 once in UTC
        "2026-01-01T00:00:00",  # no time zone
    ],
)
def test_datetimes_outside_what_utc_can_hold_are_a_400(moment: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(raw_cursor([{"t": moment}, str(uuid.uuid4())]), datetime, uuid.UUID)


def test_datetimes_at_the_edges_are_read_in_utc() -> None:
    first = decode_cursor(raw_cursor([{"t": "0001-01-01T00:00:00-01:00"}, str(uuid.uuid4())]), datetime, uuid.UUID)
    assert first[0] == datetime(1, 1, 1, 1, tzinfo=UTC)
    assert first[0].utcoffset() is not None
    assert first[0].tzinfo == UTC


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1" + "0" * 400])
def test_numbers_must_be_finite(number: str) -> None:
    cursor = base64.urlsafe_b64encode(f"[{number}]".encode()).decode()
    with pytest.raises(BadRequest):
        decode_cursor(cursor, float)


def test_datetime_keys_must_be_ours() -> None:
    for foreign in (encode_cursor("2026-01-01", uuid.uuid4()), encode_cursor({"t": 5}, uuid.uuid4())):
        with pytest.raises(BadRequest):
            decode_cursor(foreign, datetime, uuid.UUID)


@given(st.text(max_size=200))
def test_random_cursors_never_raise_anything_else(cursor: str) -> None:
    with contextlib.suppress(BadRequest):
        decode_cursor(cursor, datetime, uuid.UUID)
