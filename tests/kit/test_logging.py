"""Log records: an aborted response is one warning line, other errors keep their traceback, tokens never show."""

from __future__ import annotations

import logging
import sys
import uuid

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from soundtime.kit.aborts import ResponseAborted
from soundtime.kit.logging import QuietAbortedResponses, RedactTokens
from tests.support.api import register


def record_of(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application\n", (), info)


def test_an_aborted_response_is_logged_as_one_warning_line() -> None:
    try:
        raise ResponseAborted("peer 1234 stopped sending after 1048576 bytes")
    except ResponseAborted as aborted:
        wrapped = BaseExceptionGroup("unhandled errors in a TaskGroup", [RuntimeError("cut")])
        wrapped.exceptions[0].__cause__ = aborted
    for exc in (ResponseAborted("peer 1234 stopped sending after 1048576 bytes"), wrapped):
        record = record_of(exc)
        assert QuietAbortedResponses().filter(record)
        assert record.levelno == logging.WARNING
        assert record.exc_info is None
        assert record.getMessage() == "response aborted: peer 1234 stopped sending after 1048576 bytes"


def test_other_errors_keep_their_traceback() -> None:
    record = record_of(ValueError("a real bug"))
    assert QuietAbortedResponses().filter(record)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


def test_credentials_in_query_strings_stay_out_of_access_logs() -> None:
    path = (
        "/rest/stream.view?u=alice&t=26719a1196d2a940705a59634eb18eab&s=c19b2d&v=1.16.1&c=DSub&id=tr-1"
        "&p=enc:736573616d65&apiKey=st_abc&token=eyJ.x.y"
    )
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', None, None)
    record.args = ("127.0.0.1:5000", "GET", path, "1.1", 200)
    assert RedactTokens().filter(record)
    logged = record.getMessage()
    for secret in ("26719a1196d2a940705a59634eb18eab", "736573616d65", "st_abc", "eyJ.x.y"):
        assert secret not in logged
    assert "t=[redacted]&s=c19b2d" in logged
    assert "u=alice" in logged
    assert "id=tr-1" in logged


# --- tokens in query strings: redacted however the name is encoded, exactly as the app reads them ---------------

SECRET = "eyJhbGciOiJIUzI1NiJ9.secret-part.signature"


def access_record(target: str) -> logging.LogRecord:
    """An access-log record as uvicorn writes it."""
    args = ("127.0.0.1:5000", "GET", target, "1.1", 200)
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)


def redacted(target: str) -> str:
    record = access_record(target)
    assert RedactTokens().filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    "query",
    [
        f"token={SECRET}",
        f"%74oken={SECRET}",
        f"t%6Fken={SECRET}",
        f"%74%6F%6B%65%6E={SECRET}",
        f"%74%6f%6b%65%6e={SECRET}",
        f"x=1&token={SECRET}&y=2",
        f"token=decoy&%74oken={SECRET}",  # the app reads the last one
        f"access_token={SECRET}",
    ],
)
def test_a_token_parameter_is_redacted_however_its_name_is_encoded(query: str) -> None:
    assert QueryParams(query).get("token", QueryParams(query).get("access_token")) == SECRET  # the app reads it
    line = redacted(f"/api/tracks/1/stream?{query}")
    assert SECRET not in line
    assert "[redacted]" in line


def test_other_parameters_are_left_alone() -> None:
    target = "/api/search?q=token%3Dnot-a-secret&tokens=2&limit=5&token"
    assert redacted(target) == f'127.0.0.1:5000 - "GET {target} HTTP/1.1" 200'


@given(
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.lists(st.sampled_from(["upper", "lower"]), min_size=5, max_size=5),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="&#% +="), min_size=8, max_size=40),
)
def test_any_spelling_the_app_reads_as_token_is_redacted(encoded: list[bool], case: list[str], value: str) -> None:
    name = "".join(
        (f"%{ord(ch):02X}" if how == "upper" else f"%{ord(ch):02x}") if enc else ch
        for ch, enc, how in zip("token", encoded, case, strict=True)
    )
    query = f"a=b&{name}={value}"
    assert QueryParams(query).get("token") == value
    assert redacted(f"/x?{query}").endswith(f'{name}=[redacted] HTTP/1.1" 200')


async def test_the_access_log_of_a_real_server_never_shows_a_token(
    live_server: str, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = await register(client)
    access = logging.getLogger("uvicorn.access")
    keep = RedactTokens()
    access.addFilter(keep)
    try:
        with caplog.at_level(logging.INFO, logger="uvicorn.access"):
            async with httpx.AsyncClient(base_url=live_server) as http:
                for name in ("token", "%74oken", "t%6Fken"):
                    response = await http.get(f"/api/tracks/{uuid.uuid4()}/stream?{name}={token}")
                    assert response.status_code == 404  # the token was read and accepted: the track is unknown
    finally:
        access.removeFilter(keep)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(lines) == 3
    assert all(token not in line and "[redacted]" in line for line in lines)
