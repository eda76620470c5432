"""Peers that go down and come back get what they missed, promptly (real `soundtime serve` processes).

- With ``P2P_BIND_PORT=0`` every start binds a new port. The other node still holds connections with the old
  process when the new one connects to it; its pushes must reach the new address all the same.
- A push that fails because the peer is down does not count as a push: when the peer is back (minutes before the
  push interval is over), it gets the track it missed.
- Tracks imported while the server was stopped reach its peers when it starts again.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.support.audio import AudioFactory, TrackSpec
from tests.support.serve import (
    QUICK_FAILURES,
    clean_env,
    configured_server,
    free_udp_port,
    register,
    scalar,
    scalar_text,
    sigkill,
    start_servers,
    until,
)


@pytest.mark.timeout(240)
async def test_a_peer_restarted_on_a_new_port_receives_and_plays_what_follows(
    make_database: Callable[[str], str], audio: AudioFactory, tmp_path: Path
) -> None:
    a_db, b_db = make_database("soundtime_new_port_a"), make_database("soundtime_new_port_b")
    first = audio.make(tmp_path / "first.flac", "flac", TrackSpec(title="First", duration=2.0)).read_bytes()
    second = audio.make(tmp_path / "second.flac", "flac", TrackSpec(title="Second", duration=3.0)).read_bytes()
    a, b = start_servers(
        configured_server(tmp_path / "a", a_db, P2P_ENABLED="true", P2P_TIMINGS=QUICK_FAILURES),
        # P2P_BIND_PORT=0: a new port at each start
        configured_server(tmp_path / "b", b_db, P2P_ENABLED="true", P2P_TIMINGS=QUICK_FAILURES),
    )
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


@pytest.mark.timeout(240)
async def test_what_a_peer_missed_while_down_or_stopped_reaches_it_when_it_is_back(
    make_database: Callable[[str], str], audio: AudioFactory, tmp_path: Path
) -> None:
    a_db, b_db = make_database("soundtime_missed_a"), make_database("soundtime_missed_b")
    made = [
        audio.make(tmp_path / f"{n}.flac", "flac", TrackSpec(title=f"Track {n}", duration=2.0 + n)) for n in range(3)
    ]
    folder = tmp_path / "imported"
    folder.mkdir()
    made[2].rename(folder / made[2].name)
    a, b = start_servers(
        configured_server(
            tmp_path / "a",
            a_db,
            P2P_ENABLED="true",
            P2P_BIND_PORT=str(free_udp_port()),
            P2P_TIMINGS=QUICK_FAILURES,
            LOG_LEVEL="info",
        ),
        configured_server(
            tmp_path / "b", b_db, P2P_ENABLED="true", P2P_BIND_PORT=str(free_udp_port()), P2P_TIMINGS=QUICK_FAILURES
        ),
    )
    try:
        a_headers = {"Authorization": f"Bearer {register(a)}"}
        b_headers = {"Authorization": f"Bearer {register(b)}"}
        async with (
            httpx.AsyncClient(base_url=a.url, headers=a_headers, timeout=60) as a_http,
            httpx.AsyncClient(base_url=b.url, headers=b_headers, timeout=60) as b_http,
        ):
            first = await a_http.post("/api/upload", files={"file": ("0.flac", made[0].read_bytes())})
            assert first.status_code == 201, first.text
            a_status = (await a_http.get("/api/p2p/status")).json()
            added = await b_http.post("/api/admin/p2p/peers", json={"node_id": a_status["ticket"]})
            assert added.status_code == 201, added.text
        replicated = f"SELECT count(*) FROM tracks WHERE origin_node = '{a_status['node_id']}'"

        def arrived(count: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return await scalar(b_db, replicated) == count

            return check

        await until(arrived(1), "A's first track on B", within=60)

        # 1. B is down while A gets a track: A's push fails; B gets the track when it is back.
        sigkill(b)
        async with httpx.AsyncClient(base_url=a.url, headers=a_headers, timeout=60) as http:
            second = await http.post("/api/upload", files={"file": ("1.flac", made[1].read_bytes())})
            assert second.status_code == 201, second.text

        async def push_failed() -> bool:
            return any("catalog push" in line and "failed" in line for line in a.log.read_text().splitlines())

        await until(push_failed, "A's push to the stopped B failing", within=90)
        b.start()
        await until(arrived(2), "the track B missed while it was down", within=60)

        # 2. A is stopped, a folder is imported into its library, A starts: B gets the imported track.
        a.stop()
        env = {**clean_env(), **a.settings}
        command = [sys.executable, "-m", "soundtime", "import", str(folder)]
        imported = await asyncio.to_thread(subprocess.run, command, cwd=a.workdir, env=env, capture_output=True)
        assert imported.returncode == 0, imported.stderr
        a.start()
        await until(arrived(3), "the track imported into A while it was stopped", within=60)
    finally:
        a.kill()
        b.kill()
