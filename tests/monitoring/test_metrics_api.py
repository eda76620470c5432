"""/metrics: who may read it, the text format, and HTTP requests counted by route template only."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from soundtime.config import Settings
from soundtime.models import Peer
from tests.conftest import asgi_client, make_settings, running_app
from tests.support.api import bearer, context_of, open_registration, register
from tests.support.metrics import delta, scrape, value

SCRAPER_TOKEN = secrets.token_hex(32)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "data", database_url, METRICS_TOKEN=SCRAPER_TOKEN)


async def test_anonymous_users_and_wrong_tokens_are_refused(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    await open_registration(client, admin["Authorization"].removeprefix("Bearer "))
    user = bearer(await register(client, "listener"))
    assert_error(await client.get("/metrics"), 401, "unauthorized")
    assert (await client.get("/metrics")).headers["www-authenticate"] == "Bearer"
    assert_error(await client.get("/metrics", headers=bearer("not-a-token")), 401, "invalid_token")
    assert_error(await client.get("/metrics", headers=bearer(SCRAPER_TOKEN[:-1] + "x")), 401, "invalid_token")
    assert_error(await client.get("/metrics", headers=user), 403, "forbidden")
    # The scraper's token and an administrator's access token are let through.
    for headers in (bearer(SCRAPER_TOKEN), admin):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 200, response.text
        assert "soundtime_http_requests_total" in response.text
        assert response.headers["cache-control"] == "no-store"


async def test_without_a_metrics_token_only_administrators_read(tmp_path: Path, database_url: str) -> None:
    async with running_app(make_settings(tmp_path / "d", database_url)) as app, asgi_client(app) as client:
        admin = bearer(await register(client, "admin"))
        assert_error(await client.get("/metrics", headers=bearer(SCRAPER_TOKEN)), 401, "invalid_token")
        assert (await client.get("/metrics", headers=admin)).status_code == 200


async def test_a_short_metrics_token_is_refused_at_start_up(tmp_path: Path, database_url: str) -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        make_settings(tmp_path / "d", database_url, METRICS_TOKEN="short")


async def test_requests_are_counted_by_route_template_never_by_raw_path(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    before = await scrape(client, admin)
    ids = [uuid.uuid4() for _ in range(3)]
    for track in ids:
        assert (await client.get(f"/api/tracks/{track}", headers=admin)).status_code == 404
    probe = f"no-such-page-{secrets.token_hex(8)}"
    assert (await client.get(f"/{probe}")).status_code == 404
    assert (await client.get("/api/tracks", headers=admin)).status_code == 200
    assert (await client.get("/api/tracks")).status_code == 401

    response = await client.get("/metrics", headers=admin)
    after = await scrape(client, admin)
    route = "/api/tracks/{track_id}"
    assert delta(before, after, "soundtime_http_requests_total", method="GET", route=route, status="404") == 3
    assert delta(before, after, "soundtime_http_requests_total", method="GET", route="/api/tracks", status="200") == 1
    assert delta(before, after, "soundtime_http_requests_total", method="GET", route="/api/tracks", status="401") == 1
    assert delta(before, after, "soundtime_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    # Latency histograms per template: every request is in the +Inf bucket and the count.
    count = value(after, "soundtime_http_request_duration_seconds_count", method="GET", route=route)
    inf = value(after, "soundtime_http_request_duration_seconds_bucket", method="GET", route=route, le="+Inf")
    assert count >= 3
    assert inf == count
    # No raw path (ids, the probe) ever becomes a label.
    for raw in [*map(str, ids), probe]:
        assert raw not in response.text


async def test_gauges_read_at_scrape_time_are_present_without_p2p(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    samples = await scrape(client, admin)
    assert value(samples, "soundtime_p2p_peers", state="known") == 0
    for state in ("healthy", "recovered", "degraded", "dereferenced"):
        assert ("soundtime_p2p_tracks_by_health", frozenset({("state", state)})) in samples
    assert value(samples, "soundtime_p2p_cache_max_bytes") == 2 << 30
    assert value(samples, "soundtime_p2p_cache_bytes") == 0
    # Process metrics come with prometheus-client's collectors.
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


async def test_openmetrics_is_served_when_asked_for(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    response = await client.get("/metrics", headers={**admin, "Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_database_gauges_are_cached_for_a_few_seconds(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    assert value(await scrape(client, admin), "soundtime_p2p_peers", state="known") == 0
    async with context_of(app).db.transaction() as session:
        session.add(Peer(node_id="ab" * 32, source="manual"))
    # Within the TTL the scrape reuses the counts it read (no query per scrape) ...
    assert value(await scrape(client, admin), "soundtime_p2p_peers", state="known") == 0
    # ... and reads them again once they are older.
    context_of(app).scrape_counts.ttl = 0
    assert value(await scrape(client, admin), "soundtime_p2p_peers", state="known") == 1
