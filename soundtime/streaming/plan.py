"""Deciding a media response from its request headers: conditional requests (ETag) and one byte range."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response

from soundtime.kit.errors import RangeNotSatisfiable
from soundtime.kit.etag import etag_matches
from soundtime.streaming.ranges import Unsatisfiable, parse_range


@dataclass(frozen=True, slots=True)
class Plan:
    """How to answer a media request: status, the byte range ``[start, stop)`` and the headers."""

    status: int
    start: int
    stop: int
    headers: dict[str, str]


def plan_response(request: Request, digest: str, size: int, cache: str) -> Plan | Response:
    """Decide a media request from its conditional and Range headers: a :class:`Plan`, or a 304 at once."""
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": cache}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if_range = request.headers.get("if-range")
    range_header = request.headers.get("range") if if_range in (None, etag) else None
    try:
        byte_range = parse_range(range_header, size)
    except Unsatisfiable as exc:
        raise RangeNotSatisfiable(
            f"the range lies outside the {size} bytes of this file",
            headers={"Content-Range": f"bytes */{size}"},
        ) from exc
    if byte_range is None:
        headers["Content-Length"] = str(size)
        return Plan(200, 0, size, headers)
    headers["Content-Range"] = byte_range.content_range
    headers["Content-Length"] = str(byte_range.length)
    return Plan(206, byte_range.first, byte_range.last + 1, headers)
