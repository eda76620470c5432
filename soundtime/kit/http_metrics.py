"""ASGI middleware that counts and times HTTP requests by route template (``/api/tracks/{track_id}``).

The label is the template of the route that handled the request, never the path a client sent: paths are
unbounded, and a label per path would let anyone grow the process's memory at will. A request no route matched
is counted under ``<unmatched>``.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soundtime.kit.metrics import HTTP_DURATION, HTTP_IN_PROGRESS, HTTP_REQUESTS

UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that matched ``scope`` (FastAPI records it in the scope), else ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class HttpMetrics:
    """Counts requests by method, route template and status; times them to the end of the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request and record it (also when the app raises: it is then counted as a 500)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        status = 500
        streaming: str | None = None

        async def recording_send(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                streaming = route_template(scope)
                HTTP_IN_PROGRESS.labels(streaming).inc()
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = route_template(scope)
            if streaming is not None:
                HTTP_IN_PROGRESS.labels(streaming).dec()
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
