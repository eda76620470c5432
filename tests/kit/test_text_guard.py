"""Text no column can store (NUL, unpaired surrogates) is a 422 wherever it is sent; other text passes untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api import bearer, error_code, register


async def patch_settings(client: httpx.AsyncClient, token: str, raw: str) -> httpx.Response:
    headers = {**bearer(token), "Content-Type": "application/json"}
    return await client.patch("/api/admin/settings", content=raw.encode(), headers=headers)


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ('{"instance_name": "a\\u0000b"}', "body.instance_name", "text must not contain NUL characters"),
        ('{"instance_name": "\\udc80"}', "body.instance_name", "text must be valid Unicode"),
        ('{"instance_name": "ok", "x": [1, {"y": ["\\u0000"]}]}', "body.x.1.y.0", "NUL"),
        ('{"na\\u0000me": "ok"}', "body", "a key: text must not contain NUL characters"),
    ],
)
async def test_unstorable_json_text_is_a_422_naming_where(
    client: httpx.AsyncClient, raw: str, field: str, message: str
) -> None:
    token = await register(client)
    response = await patch_settings(client, token, raw)
    assert response.status_code == 422
    assert error_code(response) == "invalid"
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == field
    assert message in detail["message"]


async def test_text_that_merely_looks_odd_passes(client: httpx.AsyncClient) -> None:
    token = await register(client)
    for name in ("a\\\\u0000b", "🎵 Straße ☃", "\\ud83c\\udfb5 paired"):  # an escaped backslash, real text, a pair
        response = await patch_settings(client, token, f'{{"instance_name": "{name}"}}')
        assert response.status_code == 200, response.text
    assert response.json()["instance_name"] == "🎵 paired"


async def test_a_nul_in_the_url_is_refused(client: httpx.AsyncClient) -> None:
    token = await register(client)
    query = await client.get("/api/search?q=a%00b", headers=bearer(token))
    assert query.status_code == 422
    assert query.json()["error"]["details"][0]["field"] == "query.q"
    path = await client.delete("/api/admin/p2p/peers/ab%00cd", headers=bearer(token))
    assert path.status_code == 422
    assert path.json()["error"]["details"][0]["field"] == "path"


async def test_bodies_keep_their_limit_and_their_bytes(client: httpx.AsyncClient) -> None:
    token = await register(client)
    headers = {**bearer(token), "Content-Type": "application/json"}

    async def chunked(data: bytes) -> AsyncIterator[bytes]:  # no Content-Length: only counting can stop it
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    big = b'{"instance_name": "' + b"x" * (2 << 20) + b'"}'
    too_large = await client.patch("/api/admin/settings", content=chunked(big), headers=headers)
    assert too_large.status_code == 413
    fine = await client.patch("/api/admin/settings", content=chunked(b'{"instance_name": "Mine"}'), headers=headers)
    assert fine.status_code == 200
    assert fine.json()["instance_name"] == "Mine"
