"""A peer that restarts on another UDP port is dialled at its new address (real `soundtime serve` processes).

With ``P2P_BIND_PORT=0`` every start binds a new port. The other node still holds connections with the old
process when the new one connects to it; its pushes must reach the new address all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.audio import AudioFactory, TrackSpec
from tests.support.serve import register, scalar, scalar_text, sigkill, start_server, until


@pytest.mark.timeout(240)
async def test_a_peer_restarted_on_a_new_port_receives_and_plays_what_follows(
    make_database: Callable[[str], str], audio: AudioFactory, tmp_path: Path
) -> None:
    a_db, b_db = make_database("soundtime_new_port_a"), make_database("soundtime_new_port_b")
    first = audio.make(tmp_path / "first.flac", "flac", TrackSpec(title="First", duration=2.0)).read_bytes()
    second = audio.make(tmp_path / "second.flac", "flac", TrackSpec(title="Second", duration=3.0)).read_bytes()
    a = start_server(tmp_path / "a", a_db, P2P_ENABLED="true")
    b = start_server(tmp_path / "b", b_db, P2P_ENABLED="true")  # P2P_BIND_PORT=0: a new port at each start
    try:
        a_http = httpx.AsyncClient(base_url=a.url, headers={"Authorization": f"Bearer {register(a)}"}, timeout=60)
        b_headers = {"Authorization": f"Bearer {register(b)}"}
        async with a_http, httpx.AsyncClient(base_url=b.url, headers=b_headers, timeout=60) as b_http:
            assert (await a_http.post("/api/upload", files={"file": ("first.flac", first)})).status_code == 201
            a_status = (await a_http.get("/api/p2p/status")).json()
            added = await b_http.post("/api/admin/p2p/peers", json={"node_id": a_status["ticket"]})
            assert added.status_code == 201, added.text
            old_ports = (await b_http.get("/api/p2p/status")).json()["listen_ports"]
            replicated = f"SELECT count(*) FROM tracks WHERE origin_node = '{a_status['node_id']}'"

            async def first_arrived() -> bool:
                return await scalar(b_db, replicated) == 1

            await until(first_arrived, "A's first track on B", within=60)
            sigkill(b)  # A keeps its connections with the old process until they time out
            b.start()
            new_ports = (await b_http.get("/api/p2p/status")).json()["listen_ports"]
            assert set(new_ports).isdisjoint(old_ports)
            uploaded = await a_http.post("/api/upload", files={"file": ("second.flac", second)})
            assert uploaded.status_code == 201, uploaded.text

            async def second_arrived() -> bool:
                return await scalar(b_db, replicated) == 2

            await until(second_arrived, "A's second track on B after B's restart on a new port", within=60)
            digest = uploaded.json()["track"]["content_hash"]
            track = await scalar_text(b_db, f"SELECT id::text FROM tracks WHERE content_hash = '{digest}'")
            streamed = await b_http.get(f"/api/tracks/{track}/stream")
            assert (streamed.status_code, streamed.content) == (200, second)
    finally:
        a.kill()
        b.kill()
