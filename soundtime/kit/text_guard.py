"""Refuse text that no column can store, wherever a client puts it: NUL characters and unpaired surrogates.

PostgreSQL's ``text`` cannot hold NUL, and an unpaired surrogate (``"\\ud800"`` in JSON) cannot be encoded as
UTF-8 at all: either would fail deep inside a query as a 500. This middleware answers such requests with a 4xx
before any route sees them — the URL's path and query (decoded as the application decodes them) and every key
and string of a JSON body — so no route, present or future, has to remember to.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soundtime.kit.body_limit import MAX_BODY_BYTES
from soundtime.kit.errors import error_body

_NUL = "\x00"


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL character, an unpaired surrogate), or None."""
    if _NUL in text:
        return "text must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (it contains an unpaired surrogate)"
    return None


def _json_problem(document: Any) -> tuple[str, str] | None:
    """The first key or string of a decoded JSON document that cannot be stored: (its location, why)."""
    pending: list[tuple[str, Any]] = [("body", document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            problem = unstorable(value)
            if problem is not None:
                return where, problem
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = unstorable(key)
                if problem is not None:
                    return where, f"a key: {problem}"
                pending.append((f"{where}.{key}", item))
        elif isinstance(value, list):
            pending.extend((f"{where}.{index}", item) for index, item in enumerate(value))
    return None


def _url_problem(scope: Scope) -> tuple[str, str] | None:
    if _NUL in scope["path"]:
        return "path", "the path must not contain NUL characters"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if _NUL in name or _NUL in value:
            return f"query.{name.replace(_NUL, '')}", "text must not contain NUL characters"
    return None


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI would parse this request's body as JSON (no content type, or ``application/*json``)."""
    if scope["method"] in ("GET", "HEAD", "OPTIONS"):
        return False
    content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
    return not content_type or content_type == b"application/json" or content_type.endswith(b"+json")


class RejectUnstorableText:
    """ASGI middleware: 422 for NUL characters or unpaired surrogates in the URL or a JSON body.

    A JSON body is read (at most ``limit`` bytes; a longer one is passed on unchecked, for the body limit or
    the route to refuse) and then replayed to the application unchanged.
    """

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, answer 422 or pass it on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _url_problem(scope)
        if problem is not None:
            await _refuse(send, *problem)
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size, more = 0, True
        while more and size <= self.limit:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if not more:
            problem = _body_problem(b"".join(m.get("body", b"") for m in received))
            if problem is not None:
                await _refuse(send, *problem)
                return

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


def _body_problem(body: bytes) -> tuple[str, str] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON this guard can read: the route answers with its own 4xx
    return _json_problem(document)


async def _refuse(send: Send, field: str, message: str) -> None:
    details = [{"field": field, "message": message}]
    body = json.dumps(error_body("invalid", f"{field}: {message}", details)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})
