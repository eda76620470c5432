"""A newcomer's walk-through, end to end: `soundtime serve` with no configuration at all (embedded PostgreSQL in
./data), register, upload, list, search, stream ranges, cover, import a folder with the CLI while the server runs,
stop, restart — and everything is still there."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
from tests.support.serve import Server, clean_env

PASSWORD = "a newcomer's password"


def postgres_running_in(data: Path) -> bool:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and any(str(data) in part for part in proc.info["cmdline"] or []):
            return True
    return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    yield running
    running.kill()


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
