"""HTTP of the Subsonic API: ``/rest/<endpoint>`` and ``/rest/<endpoint>.view``, GET or form POST (HEAD too).

Parameters come from the query string and, for POST, an ``application/x-www-form-urlencoded`` body (the
``formPost`` extension). Every answer that is not media is HTTP 200 with ``status="ok"`` or ``status="failed"``
and an ``<error code message>`` (Subsonic clients read the code, not the HTTP status).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from soundtime.auth.dependencies import client_key
from soundtime.context import ContextDep
from soundtime.kit.errors import AppError
from soundtime.subsonic import endpoints  # noqa: F401 - registers the handlers
from soundtime.subsonic.auth import Caller, authenticate
from soundtime.subsonic.errors import Code, SubsonicError, from_app_error, missing, not_implemented
from soundtime.subsonic.params import MAX_PARAMETERS, Params
from soundtime.subsonic.registry import ENDPOINTS, NOT_IMPLEMENTED, Call
from soundtime.subsonic.render import Format, envelope, respond, valid_callback

log = logging.getLogger(__name__)
router = APIRouter(tags=["subsonic"])
_NAME = re.compile(r"[A-Za-z0-9]{1,64}")
_FORM = "application/x-www-form-urlencoded"


async def _params(request: Request) -> Params:
    pairs = list(request.query_params.multi_items())
    if request.method == "POST" and request.headers.get("content-type", "").split(";")[0].strip().lower() == _FORM:
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            pairs += parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_PARAMETERS)
        except ValueError as exc:
            raise SubsonicError(Code.GENERIC, f"too many parameters (at most {MAX_PARAMETERS})") from exc
    return Params(pairs)


def _format(params: Params) -> tuple[Format, str | None]:
    wanted = (params.get("f") or "xml").lower()
    if wanted == "jsonp":
        return "jsonp", params.get("callback")
    return ("json" if wanted == "json" else "xml"), None


def _failure(error: SubsonicError, fmt: Format, callback: str | None) -> Response:
    details = {"code": int(error.code), "message": error.message, "helpUrl": error.help_url}
    body = envelope({"error": {key: value for key, value in details.items() if value is not None}}, failed=True)
    return respond(body, fmt, callback, error.headers)


_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "a subsonic-response (XML by default, f=json, f=jsonp) or media bytes"}
}


@router.get(
    "/rest/{endpoint}",
    summary="The OpenSubsonic API (client apps)",
    operation_id="subsonic",
    response_class=Response,
    responses=_ANSWER,
)
@router.post(
    "/rest/{endpoint}",
    summary="The OpenSubsonic API, parameters in a form",
    operation_id="subsonic_form",
    response_class=Response,
    responses=_ANSWER,
)
@router.head("/rest/{endpoint}", include_in_schema=False)
async def rest(endpoint: str, request: Request, context: ContextDep) -> Response:
    """``/rest/ping``, ``/rest/getAlbum.view?id=…``: see the README for the endpoints, authentication (app
    passwords, API keys) and ids. Errors are HTTP 200 with a Subsonic error code."""
    try:
        params = await _params(request)
    except SubsonicError as exc:
        return _failure(exc, "xml", None)
    fmt, callback = _format(params)
    if fmt == "jsonp" and not valid_callback(callback):
        problem = missing("callback") if not callback else None
        return _failure(
            problem or SubsonicError(Code.GENERIC, "callback must be a JavaScript identifier"), "json", None
        )
    name = endpoint.removesuffix(".view")
    try:
        if not _NAME.fullmatch(name):
            raise SubsonicError(Code.GENERIC, "unknown endpoint")
        found = ENDPOINTS.get(name)
        if found is None:
            if name in NOT_IMPLEMENTED:
                raise not_implemented(name)
            raise SubsonicError(Code.GENERIC, f"unknown endpoint: {name}")
        caller: Caller | None = None
        if not found.public:
            caller = await authenticate(context, params, client_key(request), str(request.base_url))
        result = await found.handler(Call(request, context, params, caller))
    except SubsonicError as exc:
        return _failure(exc, fmt, callback)
    except AppError as exc:
        if exc.status_code == 416:  # a media request's range: players expect HTTP 416, not a Subsonic error
            raise
        return _failure(from_app_error(exc), fmt, callback)
    if isinstance(result, Response):
        return result
    return respond(envelope(result), fmt, callback)
