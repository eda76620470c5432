"""Whatever a client sends, the answer is never a 5xx: every route of the OpenAPI, every parameter and every JSON
field, given hostile values (NUL characters, unpaired surrogates, huge texts, numbers past any column, crafted
cursors), as an administrator — the role that reaches the most code."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from soundtime.config import Settings
from tests.conftest import make_settings, running_app
from tests.support.api import bearer, register
from tests.support.openapi_walk import fill_path, operations

Json = Any

#: Raw JSON text (not Python values): some of these cannot be written by json.dumps, e.g. a lone surrogate.
HOSTILE_JSON_STRINGS = [
    '"\\u0000"',
    '"nul\\u0000inside"',
    '"\\ud800"',
    '"lone \\udfff low"',
    '"\\ud83c"',  # half of an emoji
    json.dumps("x" * 70_000),
    '""',
    '" "',
    json.dumps("\u202e\u200b\ufeff"),
    json.dumps("../../etc/passwd"),
]
HOSTILE_JSON_NUMBERS = ["-1", "0", "2147483648", "9223372036854775808", "-9223372036854775809", "1" + "0" * 40,
                        "1e308", "-1e308", "NaN", "Infinity", "1.5"]  # fmt: skip
HOSTILE_JSON_OTHER = ["null", "[]", "{}", "true", '"1"']

#: Query and path values, already percent-encoded as they travel.
HOSTILE_URL_VALUES = ["%00", "nul%00inside", "%ED%A0%80", "%FF%FE", "x" * 5000, "", "%20", "-1", "0",
                      "9223372036854775808", "1" + "0" * 40, "NaN", "..%2F..%2Fetc"]  # fmt: skip


def _cursor(values: Json) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


SOME_ID = str(uuid.uuid4())
HOSTILE_CURSORS = [
    _cursor([{"t": "0001-01-01T00:00:00+14:00"}, SOME_ID]),  # before year 1 in UTC
    _cursor([{"t": "9999-12-31T23:59:59.999999-14:00"}, SOME_ID]),  # after year 9999 in UTC
    _cursor([{"t": "0001-01-01T00:00:00+00:00"}, SOME_ID]),
    _cursor([{"t": "9999-12-31T23:59:59.999999+00:00"}, SOME_ID]),
    _cursor(["\u0000", SOME_ID]),
    _cursor(["\ud800", SOME_ID]),
    _cursor([9223372036854775808, SOME_ID]),
    _cursor([1e308, SOME_ID]),
    _cursor([SOME_ID]),
    _cursor([SOME_ID, SOME_ID, SOME_ID]),
    _cursor("x" * 300),
]


def _resolve(schema: Json, spec: Json) -> Json:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _resolve(options[0], spec) if options else {"type": "null"}
    return schema


def _baseline(schema: Json, spec: Json) -> Json:
    """A plausible value of ``schema`` (the other fields' values while one field is made hostile)."""
    schema = _resolve(schema, spec)
    kind = schema.get("type")
    if kind == "object":
        return {name: _baseline(sub, spec) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_baseline(schema.get("items", {}), spec)]
    if kind == "string":  # unique, so that one request does not merely conflict with an earlier one
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        text = "x" + uuid.uuid4().hex
        return text.ljust(schema.get("minLength", 1), "x")[: schema.get("maxLength", len(text))]
    return {"integer": 1, "number": 1.0, "boolean": True}.get(kind)


def _leaves(schema: Json, spec: Json, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every field of a JSON body (arrays by their first item) with its type."""
    schema = _resolve(schema, spec)
    kind = schema.get("type")
    if kind == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from _leaves(sub, spec, (*path, name))
    elif kind == "array":
        yield from _leaves(schema.get("items", {}), spec, (*path, 0))
    else:
        yield path, str(kind)


_MARK = "@@hostile@@"


def _with_raw(body: Json, path: tuple[str | int, ...], raw: str) -> bytes:
    """``body`` serialised with the field at ``path`` replaced by raw JSON text."""
    target = body
    for step in path[:-1]:
        target = target[step]
    if path:
        target[path[-1]] = _MARK
        text = json.dumps(body).replace(json.dumps(_MARK), raw)
    else:
        text = raw
    return text.encode()


@pytest.fixture
def hostile_settings(settings: Settings) -> Settings:
    return make_settings(settings.data_dir, settings.database_url or "", P2P_ENABLED=True)


@pytest.fixture
async def hostile(hostile_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(hostile_settings) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def _server_errors(response: httpx.Response, what: str) -> list[str]:
    return [f"{what} -> {response.status_code} {response.text[:200]}"] if response.status_code >= 500 else []


def _undocumented(response: httpx.Response, operation: Json, what: str) -> list[str]:
    """The answer's status, when the OpenAPI does not list it for the operation (what a schema fuzzer checks)."""
    documented = set(operation.get("responses", {}))
    if str(response.status_code) not in documented and "default" not in documented:
        return [f"{what} -> {response.status_code} not in {sorted(documented)}: {response.text[:120]}"]
    if response.status_code >= 400:  # the one error shape the OpenAPI promises
        error = response.json().get("error", {})
        if not (isinstance(error.get("code"), str) and isinstance(error.get("message"), str)):
            return [f"{what} -> {response.status_code} not in the error shape: {response.text[:120]}"]
    return []


async def test_no_input_gives_a_server_error_or_an_undocumented_status(
    hostile: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = hostile
    headers = bearer(await register(client, "admin"))
    spec = app.openapi()
    failures: list[str] = []
    undocumented: list[str] = []
    requests = 0
    for method, path, operation in operations(app):
        body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body_schema is not None:  # every JSON field, one at a time
            url = fill_path(path, operation)
            for field, kind in _leaves(body_schema, spec):
                values = HOSTILE_JSON_STRINGS if kind == "string" else HOSTILE_JSON_NUMBERS
                for raw in [*values, *HOSTILE_JSON_OTHER]:
                    content = _with_raw(_baseline(body_schema, spec), field, raw)
                    response = await client.request(
                        method, url, content=content, headers={**headers, "Content-Type": "application/json"}
                    )
                    requests += 1
                    failures += _server_errors(response, f"{method} {url} {field}={raw[:40]}")
                    undocumented += _undocumented(response, operation, f"{method} {path}")
        for parameter in operation.get("parameters", []):  # every query and path parameter
            name, where = parameter["name"], parameter["in"]
            values = [*HOSTILE_URL_VALUES, *(HOSTILE_CURSORS if name == "cursor" else [])]
            for value in values:
                if where == "path" and not value:
                    continue  # an empty segment addresses another route
                if where == "path":
                    url = fill_path(path, operation, **{name: value})
                elif where == "query":
                    url = f"{fill_path(path, operation)}?{quote(name)}={value}"
                else:
                    continue
                if not url.startswith("/") or "//" in url:
                    continue
                response = await client.request(method, url, headers=headers)
                requests += 1
                failures += _server_errors(response, f"{method} {url[:120]}")
                undocumented += _undocumented(response, operation, f"{method} {path}")
    for method, path, operation in operations(app):  # nothing stored on the way poisons a later read
        if method == "GET" and not operation.get("parameters"):
            failures += _server_errors(await client.get(path, headers=headers), f"afterwards GET {path}")
    deep = "[" * 100_000 + "]" * 100_000  # deeper than any JSON parser recurses
    response = await client.patch("/api/admin/settings", content=deep, headers=headers)
    failures += _server_errors(response, "deeply nested JSON")
    assert requests > 500  # the walk really covered the API
    assert failures == [], "\n".join(failures)
    assert sorted(set(undocumented)) == [], "\n".join(sorted(set(undocumented)))


@pytest.mark.parametrize("raw", ['{"instance_name": "nul\\u0000"}', '{"instance_name": "\\ud800"}'])
async def test_unstorable_text_is_a_422_naming_the_field(hostile: tuple[FastAPI, httpx.AsyncClient], raw: str) -> None:
    _, client = hostile
    headers = {**bearer(await register(client, "admin")), "Content-Type": "application/json"}
    response = await client.patch("/api/admin/settings", content=raw.encode(), headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"][0]["field"] == "body.instance_name"
