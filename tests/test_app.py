"""Application-level behaviour: health, OpenAPI, the start page, and the one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

import soundtime


async def test_healthz_reports_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "version": soundtime.__version__}


async def test_openapi_lists_the_api(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/me",
        "/api/upload",
        "/api/upload/batch",
        "/api/tracks",
        "/api/tracks/{track_id}/stream",
        "/api/albums/{album_id}/cover",
        "/api/search",
        "/healthz",
    ):
        assert path in paths


async def test_unknown_paths_and_methods_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await client.put("/api/tracks")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


async def test_oversized_json_bodies_are_refused_before_being_read(client: httpx.AsyncClient) -> None:
    declared = await client.post(
        "/api/auth/login", content=b"x" * (2 << 20), headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "too_large"

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 65536

    streamed = await client.post("/api/auth/login", content=endless(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "too_large"
