"""Planning a media answer from its request headers: ETags and If-None-Match (RFC 9110 §13.1.2: weak comparison,
``*``, lists), If-Range (strong comparison), one byte range, and the cache headers every answer carries."""

from __future__ import annotations

import pytest
from fastapi import Request, Response
from pydantic import BaseModel

from soundtime.kit.errors import RangeNotSatisfiable
from soundtime.kit.etag import POLLED_CACHE_CONTROL, etag_matches, json_with_etag
from soundtime.streaming.plan import Plan, plan_response

DIGEST = "ab" * 32
TAG = f'"{DIGEST}"'
CACHE = "private, max-age=31536000, immutable"
SIZE = 1000


def request(**headers: str) -> Request:
    raw = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def plan(**headers: str) -> Plan | Response:
    return plan_response(request(**headers), DIGEST, SIZE, CACHE)


def test_a_plain_request_gets_the_whole_file_with_its_validators() -> None:
    assert plan() == Plan(
        200,
        0,
        SIZE,
        {"ETag": TAG, "Accept-Ranges": "bytes", "Cache-Control": CACHE, "Content-Length": str(SIZE)},
    )


@pytest.mark.parametrize(
    "header",
    [TAG, f"W/{TAG}", "*", f'"other", {TAG}', f'"other",{TAG}', f' "a" , W/{TAG} ', '*, "x"'],
)
def test_if_none_match_naming_the_file_is_a_304_with_its_validators(header: str) -> None:
    answer = plan(if_none_match=header)
    assert isinstance(answer, Response)
    assert answer.status_code == 304
    assert answer.body == b""
    assert answer.headers["etag"] == TAG
    assert answer.headers["cache-control"] == CACHE
    assert answer.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    "header", ['"other"', 'W/"other"', "", f'"{DIGEST[:-1]}"', DIGEST, f'"{DIGEST}x"', '"a", "b"', "**"]
)
def test_if_none_match_naming_something_else_is_the_file(header: str) -> None:
    answer = plan(if_none_match=header)
    assert isinstance(answer, Plan)
    assert answer.status == 200


def test_a_range_is_a_206_with_its_content_range() -> None:
    answer = plan(range="bytes=10-19")
    assert answer == Plan(
        206,
        10,
        20,
        {
            "ETag": TAG,
            "Accept-Ranges": "bytes",
            "Cache-Control": CACHE,
            "Content-Range": f"bytes 10-19/{SIZE}",
            "Content-Length": "10",
        },
    )
    tail = plan(range="bytes=-1")
    assert isinstance(tail, Plan)
    assert (tail.status, tail.start, tail.stop, tail.headers["Content-Length"]) == (206, SIZE - 1, SIZE, "1")


def test_if_none_match_wins_over_a_range() -> None:
    answer = plan(if_none_match=TAG, range="bytes=0-1")
    assert isinstance(answer, Response)
    assert answer.status_code == 304


@pytest.mark.parametrize(("if_range", "status"), [(TAG, 206), ('"other"', 200), (f"W/{TAG}", 200), ("", 200)])
def test_if_range_honours_the_range_only_for_the_same_strong_tag(if_range: str, status: int) -> None:
    answer = plan(range="bytes=0-9", if_range=if_range)
    assert isinstance(answer, Plan)
    assert answer.status == status
    assert answer.stop == (10 if status == 206 else SIZE)


def test_a_range_outside_the_file_is_a_416_naming_its_size() -> None:
    with pytest.raises(RangeNotSatisfiable) as refused:
        plan(range=f"bytes={SIZE}-")
    assert refused.value.status_code == 416
    assert refused.value.headers == {"Content-Range": f"bytes */{SIZE}"}
    assert str(SIZE) in refused.value.message


def test_a_range_of_an_empty_file_is_a_416() -> None:
    with pytest.raises(RangeNotSatisfiable):
        plan_response(request(range="bytes=-5"), DIGEST, 0, CACHE)


def test_etag_matching_on_its_own() -> None:
    assert not etag_matches(None, TAG)
    assert not etag_matches("", TAG)
    assert etag_matches("*", TAG)
    assert etag_matches(f"W/{TAG}", TAG)
    assert not etag_matches(f"w/{TAG}", TAG)  # the weak prefix is case-sensitive
    assert not etag_matches('"other"', TAG)


class _Payload(BaseModel):
    value: int


def test_polled_json_gets_a_strong_etag_over_its_bytes_and_a_304_when_unchanged() -> None:
    first = json_with_etag(request(), _Payload(value=1))
    assert first.status_code == 200
    assert first.body == b'{"value":1}'
    tag = first.headers["etag"]
    assert (tag[0], tag[-1], len(tag)) == ('"', '"', 34)
    assert first.headers["cache-control"] == POLLED_CACHE_CONTROL == "private, no-cache"
    assert first.media_type == "application/json"
    again = json_with_etag(request(if_none_match=tag), _Payload(value=1))
    assert (again.status_code, again.body, again.headers["etag"]) == (304, b"", tag)
    changed = json_with_etag(request(if_none_match=tag), _Payload(value=2))
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
