"""Security headers on every response, and the Content-Security-Policies of the pages we serve."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The browser app: its own scripts and styles only (no inline script or style element), media and images from
#: this server (``blob:`` for artwork handed to the Media Session, ``data:`` for tiny inline images).
APP_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: The API docs page (Swagger UI, served from this server): the same, but its images are ``data:`` SVGs.
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Anything else (JSON, errors): nothing may run or be framed.
DEFAULT_POLICY = "default-src 'none'; frame-ancestors 'none'"

_ALWAYS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)
#: Media opened directly in a tab is shown by the browser's own viewer: no policy of ours applies to it.
_MEDIA_TYPES = ("audio/", "image/", "video/")


class SecurityHeaders:
    """Pure ASGI middleware (streaming responses pass through untouched) adding the headers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS:
                    headers.setdefault(name, value)
                if "content-security-policy" not in headers and not headers.get("content-type", "").startswith(
                    _MEDIA_TYPES
                ):
                    headers["content-security-policy"] = DEFAULT_POLICY
            await send(message)

        await self.app(scope, receive, send_with_headers)
