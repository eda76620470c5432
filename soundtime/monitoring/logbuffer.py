"""The federation's recent log entries, kept in memory for the admin panel (bounded, secrets blanked out).

A :class:`BufferHandler` on the federation's loggers (``soundtime.p2p.*`` and distributed search) appends each
record to the process-wide :data:`BUFFER`: at most :data:`CAPACITY` entries (the oldest go first), each message
cut at :data:`MAX_MESSAGE` characters. Entries get increasing ids (never reused, also across a clear), so a page
can follow the log by asking for the entries after the last id it saw. Records reach the buffer when their
logger lets them through (``LOG_LEVEL``). Handlers may run on any thread: every access takes one lock.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

#: Entries kept, and the longest message kept (longer ones are cut and marked).
CAPACITY = 2000
MAX_MESSAGE = 2000
#: The loggers whose records are kept: the federation and distributed search.
FEDERATION_LOGGERS = (
    "soundtime.p2p",
    "soundtime.search.distributed",
    "soundtime.search.peer_filters",
    "soundtime.search.imports",
    "soundtime.search.responder",
    "soundtime.search.routing",
    "soundtime.streaming.remote",
)
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

_SECRETS = (
    # JSON Web Tokens (our access and refresh tokens): three base64url parts, the first a JSON object.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[^\s,;\"']+"), r"\1[redacted]"),
    (
        re.compile(r"(?i)((?:access_|refresh_)?(?:token|password|secret)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
        r"\1[redacted]",
    ),
)


def redact(text: str) -> str:
    """``text`` with tokens, passwords and secrets replaced by ``[redacted]``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One kept record."""

    id: int
    time: datetime
    level: str
    logger: str
    message: str


@dataclass(frozen=True, slots=True)
class LogSlice:
    """What a query returns: the entries, where to continue, and the oldest id still held."""

    entries: list[LogEntry]
    next_after: int
    first_id: int | None


class LogBuffer:
    """A bounded, thread-safe ring of :class:`LogEntry` with increasing ids."""

    def __init__(self, capacity: int = CAPACITY, max_message: int = MAX_MESSAGE) -> None:
        self.capacity = capacity
        self.max_message = max_message
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._last_id = 0
        self._lock = threading.Lock()

    def append(self, created: float, level: str, logger: str, message: str) -> None:
        """Keep one entry (its message redacted and cut), dropping the oldest when full."""
        text = redact(message)
        if len(text) > self.max_message:
            text = text[: self.max_message - 1] + "…"
        when = datetime.fromtimestamp(created, UTC)
        with self._lock:
            self._last_id += 1
            self._entries.append(LogEntry(self._last_id, when, level, logger[:128], text))

    def query(self, *, min_level: int = logging.NOTSET, after: int | None = None, limit: int = 200) -> LogSlice:
        """Entries at ``min_level`` or above, oldest first.

        Without ``after``: the newest ``limit`` of them. With ``after``: the first ``limit`` with a larger id (an
        ``after`` beyond the newest id comes from before a restart, when ids began again: it counts as 0).
        ``next_after`` is what to pass as ``after`` next time: nothing is skipped or seen twice.
        """
        limit = max(limit, 1)
        with self._lock:
            entries = list(self._entries)
            last_id = self._last_id
        first_id = entries[0].id if entries else None
        wanted = [e for e in entries if LEVELS.get(e.level, logging.CRITICAL) >= min_level]
        if after is None:
            return LogSlice(wanted[-limit:], last_id, first_id)
        if after > last_id:
            after = 0
        newer = [e for e in wanted if e.id > after]
        if len(newer) > limit:
            return LogSlice(newer[:limit], newer[limit - 1].id, first_id)
        return LogSlice(newer, last_id, first_id)

    def clear(self) -> None:
        """Drop every entry (ids keep increasing)."""
        with self._lock:
            self._entries.clear()


class BufferHandler(logging.Handler):
    """Appends records to a :class:`LogBuffer` (the message, and the exception's type and text if any)."""

    def __init__(self, buffer: LogBuffer) -> None:
        super().__init__()
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record``; a record that cannot be formatted is reported by logging, never raised."""
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message} ({type(exc).__name__}: {exc})"
            level = next((name for name, value in reversed(LEVELS.items()) if record.levelno >= value), "debug")
            self.buffer.append(record.created, level, record.name, message)
        except Exception:
            self.handleError(record)


#: The process's buffer (the loggers that feed it are process-wide too).
BUFFER = LogBuffer()
_HANDLER = BufferHandler(BUFFER)


def install() -> None:
    """Attach the buffer's handler to the federation loggers (once per process)."""
    for name in FEDERATION_LOGGERS:
        logger = logging.getLogger(name)
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)
