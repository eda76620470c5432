"""Range header decisions (RFC 9110 §14)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soundtime.streaming.ranges import ByteRange, Unsatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=100-199", 1000, (100, 199)),
        ("bytes=0-0", 1000, (0, 0)),
        ("bytes=900-", 1000, (900, 999)),
        ("bytes=900-5000", 1000, (900, 999)),
        ("bytes=-100", 1000, (900, 999)),
        ("bytes=-5000", 1000, (0, 999)),
        ("BYTES = 5 - 9", 1000, (5, 9)),
    ],
)
def test_satisfiable_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    byte_range = parse_range(header, size)
    assert byte_range == ByteRange(*expected, size)
    assert byte_range.content_range == f"bytes {expected[0]}-{expected[1]}/{size}"


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=5000-6000", 1000), ("bytes=-0", 1000), ("bytes=-1", 0)]
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "items=0-1",
        "bytes=0-1,5-9",
        "bytes=9-5",
        "bytes=abc",
        "bytes=-",
        "bytes",
        "bytes=1-2-3",
        "bytes=" + "9" * 40 + "-",
    ],
)
def test_ignored_headers_mean_whole_file(header: str | None) -> None:
    assert parse_range(header, 1000) is None


@given(header=st.text(max_size=60), size=st.integers(min_value=0, max_value=10**12))
def test_any_header_gives_a_decision_inside_the_file(header: str, size: int) -> None:
    try:
        byte_range = parse_range(header, size)
    except Unsatisfiable:
        return
    if byte_range is not None:
        assert 0 <= byte_range.first <= byte_range.last < size
        assert byte_range.length == byte_range.last - byte_range.first + 1
