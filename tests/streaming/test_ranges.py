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


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=" + "0" * 18 + "5-", (5, 999)),  # 19 digits: still a position
        ("bytes=" + "0" * 19 + "5-", None),  # 20 digits: ignored
        ("bytes=0-" + "9" * 19, (0, 999)),
        ("bytes=0-" + "9" * 20, None),
        ("bytes=-" + "9" * 19, (0, 999)),
        ("bytes=-" + "9" * 20, None),
    ],
)
def test_positions_are_at_most_19_digits(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == (None if expected is None else ByteRange(*expected, 1000))


def _digits(size: int) -> st.SearchStrategy[str]:
    """Positions as a client writes them: near the edges of the file, anywhere, huge, with leading zeros."""
    near = st.integers(min_value=max(size - 3, 0), max_value=size + 3)
    number = st.one_of(near, st.integers(0, 3), st.integers(0, 2 * size + 10), st.integers(0, 10**20))
    return st.builds(lambda n, zeros: "0" * zeros + str(n), number, st.integers(0, 2))


@st.composite
def range_headers(draw: st.DrawFn) -> tuple[str, int, str, str]:
    """A real single-range header (``a-b``, ``a-`` or ``-n``, any case and spacing), the size, and its parts."""
    size = draw(st.one_of(st.integers(0, 3), st.integers(0, 10**12)))
    form = draw(st.sampled_from(["a-b", "a-", "-n"]))
    first = draw(_digits(size)) if form != "-n" else ""
    last = draw(_digits(size)) if form != "a-" else ""
    space = st.sampled_from(["", " ", "  ", "\t"])
    unit = draw(st.sampled_from(["bytes", "BYTES", "Bytes", " bytes "]))
    header = f"{unit}={draw(space)}{first}{draw(space)}-{draw(space)}{last}{draw(space)}"
    return header, size, first, last


def _expected(size: int, first: str, last: str) -> tuple[int, int] | type[Unsatisfiable] | None:
    """RFC 9110 §14.1.2 for one range: the inclusive bytes to send, None for the whole file, or 416."""
    if len(first) > 19 or len(last) > 19:
        return None  # not a position in any real file: the header is ignored
    if not first:
        return Unsatisfiable if int(last) == 0 or size == 0 else (max(size - int(last), 0), size - 1)
    if last and int(last) < int(first):
        return None  # an invalid range-spec
    if int(first) >= size:
        return Unsatisfiable
    return int(first), size - 1 if not last else min(int(last), size - 1)


@given(range_headers())
def test_any_range_header_gives_the_rfc_decision_inside_the_file(case: tuple[str, int, str, str]) -> None:
    header, size, first, last = case
    expected = _expected(size, first, last)
    try:
        decided: object = parse_range(header, size)
    except Unsatisfiable:
        decided = Unsatisfiable
    if isinstance(decided, ByteRange):
        assert 0 <= decided.first <= decided.last < size
        assert decided.length == decided.last - decided.first + 1 == len(range(decided.first, decided.last + 1))
        decided = (decided.first, decided.last)
    assert decided == expected, header


@given(header=st.text(max_size=60), size=st.integers(min_value=0, max_value=10**12))
def test_any_text_gives_a_decision_inside_the_file(header: str, size: int) -> None:
    try:
        byte_range = parse_range(header, size)
    except Unsatisfiable:
        return
    if byte_range is not None:
        assert 0 <= byte_range.first <= byte_range.last < size
