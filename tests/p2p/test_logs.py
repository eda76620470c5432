"""/api/admin/p2p/logs: the federation's own log entries from real traffic, level filter, live tail, clear."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.p2p.conftest import Instance, eventually
from tests.p2p.test_admin_api import assert_error
from tests.support.api import bearer, open_registration, register, upload
from tests.support.audio import AudioFactory, TrackSpec

LOGS = "/api/admin/p2p/logs"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXBhcnQ"


async def entries(instance: Instance, **params: Any) -> dict[str, Any]:
    response = await instance.client.get(LOGS, params=params, headers=instance.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_federation_log_follows_real_traffic(
    start_instance: Any, audio: AudioFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="soundtime.p2p")
    a: Instance = await start_instance("a")
    b: Instance = await start_instance("b")
    assert (await a.client.delete(LOGS, headers=a.headers)).status_code == 204
    start = await entries(a)
    assert start["entries"] == []
    assert start["capacity"] == 2000
    path = audio.make(tmp_path / "b" / "logged.mp3", "mp3", TrackSpec(title="Logged"))
    assert (await upload(b.client, b.token, path)).status_code == 201

    added = await a.client.post("/api/admin/p2p/peers", json={"node_id": b.dial_address()}, headers=a.headers)
    assert added.status_code == 201

    async def pushed() -> list[dict[str, Any]]:
        found = (await entries(a, after=start["next_after"]))["entries"]
        return [e for e in found if e["message"].startswith("pushed 1 tracks to")]

    (push,) = await eventually(pushed)  # B's push: both instances share this process, and so the buffer
    assert push["logger"] == "soundtime.p2p.sync"
    assert push["level"] == "info"
    assert push["id"] > start["next_after"]

    # Live tail: only what came after the cursor; a warning with a token in it arrives redacted.
    cursor = (await entries(a))["next_after"]
    logging.getLogger("soundtime.p2p.node").warning("peer %s presented %s", b.node_id[:16], JWT)
    tail = await entries(a, after=cursor)
    assert [e["message"] for e in tail["entries"]] == [f"peer {b.node_id[:16]} presented [redacted]"]
    assert tail["next_after"] == tail["entries"][0]["id"]
    assert (await entries(a, after=tail["next_after"]))["entries"] == []
    # Level filter: warnings and above only.
    warnings = await entries(a, level="warning")
    assert warnings["entries"]
    assert {e["level"] for e in warnings["entries"]} <= {"warning", "error", "critical"}
    assert JWT not in str(await entries(a, limit=1000))

    # Records of other parts of the server are not federation logs.
    logging.getLogger("soundtime.library.service").warning("not federation")
    assert "not federation" not in str(await entries(a, limit=1000))

    assert (await a.client.delete(LOGS, headers=a.headers)).status_code == 204
    cleared = await entries(a)
    assert cleared["entries"] == []
    assert cleared["first_id"] is None
    assert cleared["next_after"] >= tail["next_after"]


async def test_logs_are_for_administrators_and_parameters_are_checked(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    await open_registration(a.client, a.token)
    user = bearer(await register(a.client, "bob"))
    for method in ("GET", "DELETE"):
        assert_error(await a.client.request(method, LOGS), 401, "unauthorized")
        assert_error(await a.client.request(method, LOGS, headers=user), 403, "forbidden")
    for params in ({"level": "loud"}, {"after": -1}, {"limit": 0}, {"limit": 1001}, {"after": "x"}):
        assert_error(await a.client.get(LOGS, params=params, headers=a.headers), 422, "invalid")
