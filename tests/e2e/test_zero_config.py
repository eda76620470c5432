"""A newcomer's walk-through, end to end: `soundtime serve` with no configuration at all (embedded PostgreSQL in
./data), register, upload, list, search, stream ranges, cover, import a folder with the CLI while the server runs,
stop, restart — and everything is still there."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.audio import AudioFactory, TrackSpec, make_cover_png

PASSWORD = "a newcomer's password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The environment of a fresh shell: no soundtime settings, no DATABASE_URL."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["P2P_RELAY"] = "false"  # no internet here
    env["P2P_BIND_PORT"] = "0"  # another instance on this machine may hold the default port
    env["P2P_LOCAL_DISCOVERY"] = "false"  # do not announce test servers on the LAN
    return env


class Server:
    """`python -m soundtime serve` in a working directory, as README's `make run` does."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self) -> None:
        env = {**clean_env(), "SOUNDTIME_PORT": str(self.port)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "soundtime", "serve"], cwd=self.workdir, env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with httpx.Client(timeout=1) as probe:
                    healthy = probe.get(f"{self.url}/healthz").status_code == 200
                if healthy:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server did not become healthy:\n{self.log.read_text()}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.log.read_text()


def postgres_running_in(data: Path) -> bool:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and any(str(data) in part for part in proc.info["cmdline"] or []):
            return True
    return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path, free_port())
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_walkthrough(server: Server, audio: AudioFactory, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    server.start()
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    http = httpx.Client(base_url=server.url, timeout=30)
    request.addfinalizer(http.close)

    registered = http.post("/api/auth/register", json={"username": "newcomer", "password": PASSWORD})
    assert registered.status_code == 201
    assert registered.json()["user"]["role"] == "admin"
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}

    cover = make_cover_png(42)
    flac = audio.make(
        tmp_path / "up" / "bohemian.flac",
        "flac",
        TrackSpec(title="Bohemian Rhapsody", artist="Queen", album="A Night at the Opera", cover=cover, duration=2.0),
    )
    mp3 = audio.make(tmp_path / "up" / "pressure.mp3", "mp3", TrackSpec(title="Under Pressure", artist="Queen"))
    for path in (flac, mp3):
        with path.open("rb") as handle:
            response = http.post("/api/upload", files={"file": (path.name, handle)}, headers=headers)
        assert response.status_code == 201, response.text

    listed = http.get("/api/tracks", headers=headers).json()["items"]
    assert {t["title"] for t in listed} == {"Bohemian Rhapsody", "Under Pressure"}
    found = http.get("/api/search", params={"q": "bohem"}, headers=headers).json()["tracks"]
    assert [t["title"] for t in found] == ["Bohemian Rhapsody"]
    track = found[0]
    data = flac.read_bytes()

    middle = http.get(track["stream_url"], headers={**headers, "Range": "bytes=100-199"})
    assert (middle.status_code, middle.content) == (206, data[100:200])
    tail = http.get(track["stream_url"], headers={**headers, "Range": "bytes=-100"})
    assert (tail.status_code, tail.content) == (206, data[-100:])
    got_cover = http.get(track["cover_url"], headers=headers)
    assert (got_cover.status_code, got_cover.content) == (200, cover)

    # The command line shares the running server's private database.
    folder = tmp_path / "Music"
    audio.make(folder / "a.ogg", "ogg", TrackSpec(title="Imported One"))
    audio.make(folder / "b.opus", "opus", TrackSpec(title="Imported Two"))
    imported = subprocess.run(
        [sys.executable, "-m", "soundtime", "import", str(folder)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert re.search(r"imported\s*│\s*2\b", imported.stderr), imported.stderr
    assert len(http.get("/api/tracks", headers=headers).json()["items"]) == 4

    server.stop()
    assert not postgres_running_in(tmp_path / "data" / "postgres")

    server.start()
    login = http.post("/api/auth/login", json={"username": "newcomer", "password": PASSWORD})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    again = http.get("/api/tracks", headers=headers).json()["items"]
    assert len(again) == 4
    assert http.get(track["stream_url"], headers=headers).content == data
    server.stop()
