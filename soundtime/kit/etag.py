"""Strong ETags for JSON that a page polls: an unchanged answer costs a 304 with no body."""

from __future__ import annotations

from blake3 import blake3
from fastapi import Request, Response
from pydantic import BaseModel

#: Polled JSON may be stored by the browser but must be revalidated every time (never by shared caches).
POLLED_CACHE_CONTROL = "private, no-cache"


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, as RFC 9110 asks for it) or is ``*``."""
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


def json_with_etag(request: Request, payload: BaseModel) -> Response:
    """``payload`` as JSON with a strong ETag over its bytes, or 304 when the request's If-None-Match names it."""
    body = payload.model_dump_json().encode()
    etag = f'"{blake3(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": POLLED_CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
