"""A minimum rate for request bodies: a client that drips its body (an upload included) is cut off.

Only the time the application spends *waiting for the client* counts, so a slow disk or a busy database never
makes a client look slow (the server stops reading while the application is not asking for more). Two rules:

- no single wait for more of the body may exceed ``max_gap`` seconds (a stalled client), and
- the waits together may not exceed ``grace`` seconds plus one second per ``min_rate`` bytes received (a client
  sending one byte every few seconds, which the first rule alone would never catch).

When either is broken the application sees the client disconnect, and the client gets ``408`` and a closed
connection (or, when the response had already started, just the closed connection).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soundtime.kit.aborts import ResponseAborted
from soundtime.kit.errors import error_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BodyRate:
    """How slowly a client may send a request body."""

    #: Seconds of waiting every body is allowed before the rate counts.
    grace: float = 20.0
    #: Each byte received earns 1/min_rate more seconds of waiting (bytes per second).
    min_rate: int = 1024
    #: Longest single wait for the next piece of the body.
    max_gap: float = 30.0


#: The rate every request body must keep (read per request).
BODY_RATE = BodyRate()


class MinimumBodyRate:
    """ASGI middleware enforcing :class:`BodyRate` (``rate``, or :data:`BODY_RATE`) on every HTTP request body."""

    def __init__(self, app: ASGIApp, *, rate: BodyRate | None = None) -> None:
        self.app = app
        self.rate = rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the application with a receive that gives up on a client too slow to send its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rate = self.rate or BODY_RATE
        loop = asyncio.get_running_loop()
        waited, received, finished = 0.0, 0, False
        timed_out = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal waited, received, finished, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if finished:  # nothing more will come: waiting here is for a disconnect, not for the client's body
                return await receive()
            allowance = min(rate.max_gap, rate.grace + received / rate.min_rate - waited)
            begun = loop.time()
            try:
                async with asyncio.timeout(max(allowance, 0.0)):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                log.info(
                    "%s %s: the client sent %d bytes of its body too slowly; cut off",
                    scope["method"],
                    scope["path"],
                    received,
                )
                return {"type": "http.disconnect"}
            finally:
                waited += loop.time() - begun
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                finished = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out and not started:
                return  # the application's answer to a "disconnect" we invented; ours is sent below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        if timed_out and started:  # too late for a 408: the server closes the connection instead
            raise ResponseAborted("the client sent its request body too slowly")
        if timed_out:
            await _request_timeout(send)


async def _request_timeout(send: Send) -> None:
    body = json.dumps(error_body("request_timeout", "the request body arrived too slowly")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": body})
