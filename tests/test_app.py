"""Application-level behaviour: health, OpenAPI, the start page, and the one error shape."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import httpx

import soundtime
from soundtime.config import Settings
from tests.conftest import running_app


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


async def test_openapi_describes_the_upload_bodies(client: httpx.AsyncClient) -> None:
    """Multipart bodies, so that a schema-driven client (or fuzzer) can reach the upload routes."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    single = paths["/api/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert single["required"] == ["file"]
    assert single["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "the audio file (its name is kept)",
    }
    batch = paths["/api/upload/batch"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert batch["properties"]["files"]["items"]["format"] == "binary"
    assert {"400", "401", "408", "413", "415", "422"} <= set(paths["/api/upload"]["post"]["responses"])


async def test_openapi_describes_every_error_answer_in_the_one_error_shape(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {"error"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            assert "400" in responses, (method, path)
            if operation.get("security"):
                assert "401" in responses, (method, path)
            if path.startswith("/api/admin/"):
                assert "403" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
    stream = spec["paths"]["/api/tracks/{track_id}/stream"]["get"]["responses"]
    assert {"200", "206", "304", "404", "410", "416", "503"} <= set(stream)


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


async def test_what_start_up_built_is_kept_out_of_full_collections_while_the_app_runs(settings: Settings) -> None:
    assert gc.get_freeze_count() == 0
    async with running_app(settings):
        assert gc.get_freeze_count() > 10_000  # the application's modules and long-lived objects
    assert gc.get_freeze_count() == 0  # collectable again once the app is gone
