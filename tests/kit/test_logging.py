"""Log records: an aborted response is one warning line, other errors keep their traceback."""

from __future__ import annotations

import logging
import sys

from soundtime.kit.errors import ResponseAborted
from soundtime.kit.logging import QuietAbortedResponses, RedactTokens


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
