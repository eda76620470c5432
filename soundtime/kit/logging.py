"""Process-wide logging: readable text or one JSON object per line, with secrets kept out of access logs."""

from __future__ import annotations

import json
import logging
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from soundtime.kit.aborts import aborted_cause

#: Credentials that travel in query strings, by their decoded name (compared in lower case): access tokens of audio
#: players (``token``), and those of Subsonic client apps on /rest/ (``p``: an app password, ``t``: a token
#: replayable with its salt, ``apiKey``).
_SECRET_PARAMETERS = frozenset({"token", "access_token", "apikey", "p", "t"})
_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception text."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def _redact(value: object) -> object:
    """A request target with the value of every credential parameter replaced by ``[redacted]``.

    Names are decoded exactly as the application's query parser decodes them (``+`` is a space, then
    percent-decoding), so ``%74oken=`` or ``t%6Fken=`` is redacted just as it is read.
    """
    if not isinstance(value, str) or "?" not in value:
        return value
    path, _, query = value.partition("?")
    pairs = query.split("&")
    for index, pair in enumerate(pairs):
        name, sep, _ = pair.partition("=")
        if sep and urllib.parse.unquote(name.replace("+", " ")).strip().lower() in _SECRET_PARAMETERS:
            pairs[index] = f"{name}=[redacted]"
    return f"{path}?{'&'.join(pairs)}"


class RedactTokens(logging.Filter):
    """Blank out credentials in query strings (see ``_SECRET_PARAMETERS``), however their names are encoded, before
    access logs are written."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments in place; never drops a record."""
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        return True


class QuietAbortedResponses(logging.Filter):
    """Turn the server's traceback for a deliberately aborted response into one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite matching records in place; never drops a record."""
        aborted = aborted_cause(record.exc_info[1]) if record.exc_info else None
        if aborted is not None:
            record.msg, record.args, record.exc_info, record.exc_text = "response aborted: %s", (aborted,), None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Send every logger (ours, uvicorn's, alembic's) to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    logging.getLogger("uvicorn.error").addFilter(QuietAbortedResponses())
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    # zeroconf warns with a traceback for every interface it cannot send on (e.g. IPv6 loopback in containers);
    # discovery reports what matters itself.
    logging.getLogger("zeroconf").setLevel(logging.ERROR)
