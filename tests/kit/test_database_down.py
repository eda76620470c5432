"""With the database gone, every route answers 503 with Retry-After (not a 500), and recovers when it is back."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from tests.conftest import asgi_client, make_settings, running_app
from tests.support.api import bearer, register
from tests.support.db_proxy import DatabaseRelay

SCRAPER_TOKEN = secrets.token_hex(32)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response.headers["retry-after"]) > 0


async def test_routes_answer_503_while_the_database_is_down_and_recover(tmp_path: Path, database_url: str) -> None:
    async with DatabaseRelay.running(database_url) as relay:
        settings = make_settings(tmp_path / "data", relay.url, METRICS_TOKEN=SCRAPER_TOKEN)
        async with running_app(settings) as app, asgi_client(app) as client:
            admin = bearer(await register(client, "admin"))
            assert (await client.get("/api/tracks", headers=admin)).status_code == 200

            await relay.down()
            assert_unavailable(await client.get("/metrics", headers=bearer(SCRAPER_TOKEN)))
            assert_unavailable(await client.get("/api/tracks", headers=admin))
            assert_unavailable(await client.post("/api/auth/login", json={"username": "admin", "password": "x" * 12}))
            assert (await client.get("/healthz")).status_code == 503

            await relay.up()
            assert (await client.get("/metrics", headers=bearer(SCRAPER_TOKEN))).status_code == 200
            assert (await client.get("/api/tracks", headers=admin)).status_code == 200
