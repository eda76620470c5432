"""`soundtime backup` while the server runs and `soundtime restore` on a fresh data folder, as an operator runs
them: real processes, the embedded PostgreSQL, real HTTP before and after."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
from tests.support.serve import Server, clean_env

PASSWORD = "an operator's password"


def soundtime(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the command line in ``cwd`` (its data folder is ``cwd/data``) with a fresh shell's environment."""
    return subprocess.run(
        [sys.executable, "-m", "soundtime", *args],
        cwd=cwd,
        env={**clean_env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Original:
    """The instance that was backed up, as its users saw it."""

    backup: Path
    node_id: str
    tracks: dict[str, dict[str, object]]  # title → track as listed
    audio: dict[str, bytes]  # title → uploaded bytes
    cover: bytes
    app_password: str
    output: str


def login(http: httpx.Client) -> dict[str, str]:
    response = http.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, audio: AudioFactory) -> Iterator[Original]:
    """An instance with two uploaded tracks (one with a cover) and an app password, backed up while it runs."""
    home = tmp_path_factory.mktemp("original")
    server = Server(home)
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            created = http.post("/api/auth/register", json={"username": "operator", "password": PASSWORD})
            assert created.status_code == 201
            headers = {"Authorization": f"Bearer {created.json()['access_token']}"}
            cover = make_cover_png(7)
            files = {
                "Hymn": audio.make(home / "up" / "hymn.flac", "flac", TrackSpec(title="Hymn", cover=cover)),
                "Ballad": audio.make(home / "up" / "ballad.mp3", "mp3", TrackSpec(title="Ballad", album="Other")),
            }
            for path in files.values():
                with path.open("rb") as handle:
                    response = http.post("/api/upload", files={"file": (path.name, handle)}, headers=headers)
                assert response.status_code == 201, response.text
            app_password = http.post("/api/me/app-passwords", json={"name": "phone"}, headers=headers).json()
            node_id = http.get("/api/p2p/status", headers=headers).json()["node_id"]
            tracks = {t["title"]: t for t in http.get("/api/tracks", headers=headers).json()["items"]}

            done = soundtime("backup", str(home / "backup"), cwd=home)  # the server keeps running
            assert done.returncode == 0, done.stderr
            assert http.get("/healthz").status_code == 200
        server.stop()
        yield Original(
            backup=home / "backup",
            node_id=node_id,
            tracks=tracks,
            audio={title: path.read_bytes() for title, path in files.items()},
            cover=cover,
            app_password=app_password["password"],
            output=done.stderr,
        )
    finally:
        server.kill()


def test_a_backup_restored_on_a_fresh_data_folder_is_the_same_instance(original: Original, tmp_path: Path) -> None:
    manifest = json.loads((original.backup / "soundtime-backup.json").read_text())
    assert manifest["node_id"] == original.node_id
    assert len(manifest["audio"]) == 2
    assert len(manifest["covers"]) == 1
    assert "2 audio files and 1 covers" in original.output

    restored = soundtime("restore", str(original.backup), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert original.node_id in restored.stderr
    key = tmp_path / "data" / "p2p" / "secret_key"
    assert key.read_bytes() == (original.backup / "keys" / "node_secret_key").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600

    server = Server(tmp_path)
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            headers = login(http)
            assert http.get("/api/p2p/status", headers=headers).json()["node_id"] == original.node_id
            tracks = {t["title"]: t for t in http.get("/api/tracks", headers=headers).json()["items"]}
            assert tracks.keys() == original.tracks.keys()
            for title, data in original.audio.items():
                assert tracks[title]["id"] == original.tracks[title]["id"]
                streamed = http.get(str(tracks[title]["stream_url"]), headers=headers)
                assert (streamed.status_code, streamed.content) == (200, data)
            part = http.get(str(tracks["Hymn"]["stream_url"]), headers={**headers, "Range": "bytes=10-99"})
            assert (part.status_code, part.content) == (206, original.audio["Hymn"][10:100])
            cover = http.get(str(tracks["Hymn"]["cover_url"]), headers=headers)
            assert (cover.status_code, cover.content) == (200, original.cover)
            # App passwords are sealed with the server's key: they open only if the key came back too.
            params = {"u": "operator", "p": original.app_password, "v": "1.16.1", "c": "test", "f": "json"}
            ping = http.get("/rest/ping.view", params=params).json()["subsonic-response"]
            assert ping["status"] == "ok"
            assert http.get("/api/search", params={"q": "hymn"}, headers=headers).json()["tracks"]
        server.stop()
    finally:
        server.kill()


def test_a_backup_is_never_restored_over_an_instance(original: Original, tmp_path: Path) -> None:
    first = soundtime("restore", str(original.backup), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = soundtime("restore", str(original.backup), cwd=tmp_path)
    assert again.returncode == 2
    assert "the database already holds data" in again.stderr

    other = tmp_path / "other"
    (other / "data" / "p2p").mkdir(parents=True)
    (other / "data" / "p2p" / "secret_key").write_text("ab" * 32)
    refused = soundtime("restore", str(original.backup), cwd=other)
    assert refused.returncode == 2
    assert "already exists with another key" in refused.stderr
    assert (other / "data" / "p2p" / "secret_key").read_text() == "ab" * 32
    assert not (other / "data" / "postgres").exists()


def test_a_backup_needs_a_new_or_empty_folder(original: Original, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    refused = soundtime("backup", str(tmp_path / "full"), cwd=tmp_path)
    assert refused.returncode == 2
    assert "is not empty" in refused.stderr
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]
    assert not (tmp_path / "data").exists()  # refused before the database was started


def damage_one_audio_file(folder: Path) -> None:
    digest = json.loads((folder / "soundtime-backup.json").read_text())["audio"][0][0]
    path = folder / "audio" / digest[:2] / digest
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def empty(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (shutil.rmtree, "is not a folder"),
        (empty, "is not a soundtime backup"),
        (lambda f: (f / "soundtime-backup.json").unlink(), "unfinished backup"),
        (lambda f: (f / "soundtime-backup.json").write_text("{not json"), "is damaged (not JSON)"),
        (lambda f: (f / "soundtime-backup.json").write_text('{"format": "tarball"}'), "not a manifest"),
        (lambda f: (f / "database.pgdump").write_bytes(b"PGDMP"), "database.pgdump is damaged"),
        (lambda f: (f / "keys" / "node_secret_key").unlink(), "keys/node_secret_key is missing"),
        (lambda f: shutil.rmtree(f / "covers"), "is missing"),
        (damage_one_audio_file, "is damaged (its bytes changed)"),
    ],
    ids=["no-folder", "empty", "partial", "not-json", "other-json", "dump", "key", "covers", "audio-bytes"],
)
def test_a_wrong_or_partial_backup_is_refused_with_the_reason(
    original: Original, tmp_path: Path, spoil: object, message: str
) -> None:
    copy = tmp_path / "backup"
    shutil.copytree(original.backup, copy)
    spoil(copy)  # type: ignore[operator]
    refused = soundtime("restore", str(copy), cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert message in " ".join(refused.stderr.split()), refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "data" / "p2p" / "secret_key").exists()


def test_the_help_names_both_commands(tmp_path: Path) -> None:
    shown = soundtime("--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert "backup   Back up this instance into FOLDER while it runs" in shown.stdout
    assert "restore  Restore a backup into a new data folder" in shown.stdout
