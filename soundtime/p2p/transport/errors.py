"""Application codes of the transport and the exceptions it raises (no iroh type leaks out of the package)."""

from __future__ import annotations

import enum
import re


class CloseCode(enum.IntEnum):
    """Application codes of CONNECTION_CLOSE."""

    NORMAL = 0
    BLOCKED = 1  # spec §6: close(1, b"blocked")
    PROTOCOL_ERROR = 2
    SHUTDOWN = 3
    OVERLOADED = 4
    HEARTBEAT_TIMEOUT = 5
    IDLE = 6
    INTERNAL = 7


class StreamCode(enum.IntEnum):
    """Application codes of RESET_STREAM and STOP_SENDING."""

    DONE = 0
    PROTOCOL_ERROR = 1
    TOO_LARGE = 2
    TIMEOUT = 3
    INTERNAL = 4
    REFUSED = 5


class TransportError(Exception):
    """Base of every error of this module."""


class ConnectFailed(TransportError):
    """A peer could not be reached: no answer in time, refused, wrong identity, no usable address."""


class StreamError(TransportError):
    """A stream failed: reset or stopped by the peer, connection lost, or closed locally."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StreamTimeout(StreamError):
    """Our deadline passed; the stream has been aborted and must not be used again."""


class FrameTooLarge(StreamError):
    """The peer announced (or sent) more bytes than the caller's limit; the stream has been aborted."""

    def __init__(self, length: int | None, limit: int) -> None:
        shown = "more than" if length is None else f"{length} bytes,"
        super().__init__(f"the peer sent {shown} {limit} bytes allowed", code=StreamCode.TOO_LARGE)
        self.length = length
        self.limit = limit


class ConnectionClosed(TransportError):
    """The connection is closed; ``code`` and ``reason`` are the CONNECTION_CLOSE values when known."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason

    @property
    def redial_may_help(self) -> bool:
        """Whether a new connection may succeed: the connection died, went idle, missed its heartbeat, was
        replaced or shut down (not refused, blocked or closed for an error by the peer)."""
        return self.code is None or self.code in (
            CloseCode.NORMAL,
            CloseCode.SHUTDOWN,
            CloseCode.IDLE,
            CloseCode.HEARTBEAT_TIMEOUT,
        )


class ConnectionLost(StreamError, ConnectionClosed):
    """A stream operation failed because its whole connection closed (catchable as either parent)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        TransportError.__init__(self, message)
        self.code = code
        self.reason = reason


_CLOSE_TEXT = re.compile(r"closed by (?:peer|us): (?:(?P<reason>.*) \(code (?P<code>\d+)\)|(?P<bare>\d+))", re.S)


def _parse_close(text: str) -> tuple[int | None, str]:
    match = _CLOSE_TEXT.search(text)
    if match is None:
        return None, ""
    if match["bare"] is not None:
        return int(match["bare"]), ""
    return int(match["code"]), match["reason"]
