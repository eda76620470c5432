"""Refuse oversized request bodies before the application buffers them.

FastAPI reads a JSON body completely before dependencies (authentication, rate limits) run, so without this
anyone could make the server hold gigabytes in memory. Upload routes are exempt: they stream to disk and enforce
their own per-file limit.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soundtime.kit.errors import error_body

MAX_BODY_BYTES = 1 << 20


class BodySizeLimit:
    """ASGI middleware: 413 for a declared ``Content-Length`` over the limit, and for bodies that grow past it."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES, exempt_paths: frozenset[str]) -> None:
        self.app = app
        self.limit = limit
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting ``receive``, or answer 413 at once."""
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, f"the request body is larger than {self.limit:,} bytes")
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(error_body("too_large", f"the request body is larger than {self.limit:,} bytes")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
