"""Rendering a Subsonic answer as XML (the default), JSON or JSONP.

An answer is a tree of plain values: a dict is an element whose scalar values are its attributes and whose dict
or list values are child elements (a list repeats the element: ``{"song": [..]}`` is ``<song/><song/>`` in XML and
an array in JSON); the key ``value`` is an element's text (``<genre …>Rock</genre>``, ``"value": "Rock"``). None
values are left out. XML attribute values and text are escaped, and characters XML 1.0 cannot carry (control
characters in tags, say) are replaced, so the document is always well-formed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from fastapi import Response

import soundtime

API_VERSION = "1.16.1"
SERVER_TYPE = "soundtime"
NAMESPACE = "http://subsonic.org/restapi"
Format = Literal["xml", "json", "jsonp"]

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
#: A JSONP callback is a (dotted) JavaScript identifier and nothing else: anything more would be script injection.
_CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,63}(?:\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,3}")
_JSON = msgspec.json.Encoder()
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as Subsonic clients parse it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def valid_callback(name: str | None) -> bool:
    """True for a JSONP callback name that is a plain (dotted) identifier."""
    return name is not None and _CALLBACK.fullmatch(name) is not None


def envelope(payload: dict[str, Any] | None = None, *, failed: bool = False) -> dict[str, Any]:
    """The ``subsonic-response`` element around ``payload``."""
    return {
        "status": "failed" if failed else "ok",
        "version": API_VERSION,
        "type": SERVER_TYPE,
        "serverVersion": soundtime.__version__,
        "openSubsonic": True,
        **(payload or {}),
    }


def respond(
    body: dict[str, Any], fmt: Format, callback: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The HTTP response (always 200: Subsonic reports errors in the body)."""
    extra = {**_HEADERS, **(headers or {})}
    if fmt == "json":
        return Response(_JSON.encode({"subsonic-response": body}), media_type="application/json", headers=extra)
    if fmt == "jsonp":
        assert callback is not None
        assert valid_callback(callback)
        payload = b"/**/" + callback.encode() + b"(" + _JSON.encode({"subsonic-response": body}) + b");"
        return Response(payload, media_type="application/javascript; charset=utf-8", headers=extra)
    return Response(to_xml(body), media_type="text/xml; charset=utf-8", headers=extra)


def to_xml(body: dict[str, Any]) -> bytes:
    """The XML document of a ``subsonic-response`` body."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _element(parts, "subsonic-response", body, f' xmlns="{NAMESPACE}"')
    return "".join(parts).encode("utf-8")


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value if isinstance(value, str) else str(value)


def _attribute(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", _scalar(value)).translate(_ATTRIBUTE_ESCAPES)


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", _scalar(value)).translate(_TEXT_ESCAPES)


def _element(parts: list[str], name: str, value: Any, extra: str = "") -> None:
    if not isinstance(value, dict):
        parts.append(f"<{name}>{_text(value)}</{name}>")
        return
    attributes = [extra]
    children: list[tuple[str, Any]] = []
    text = None
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, dict | list):
            children.append((key, item))
        elif key == "value":
            text = item
        else:
            attributes.append(f' {key}="{_attribute(item)}"')
    head = "".join(attributes)
    if not children and text is None:
        parts.append(f"<{name}{head}/>")
        return
    parts.append(f"<{name}{head}>")
    if text is not None:
        parts.append(_text(text))
    for key, item in children:
        for element in item if isinstance(item, list) else (item,):
            if element is not None:
                _element(parts, key, element)
    parts.append(f"</{name}>")
