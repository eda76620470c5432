"""kill -9 in the middle of the work, then start again: the stores and the database still agree, nothing
half-done is left, and the interrupted work completes when it is run again.

Real processes (`soundtime import`, `soundtime serve`) on a database of the session's PostgreSQL; each is killed
with SIGKILL (its whole process group: the import's workers too) at a moment the test waits for, never at a guessed
time. What "consistent" means is :func:`check_consistent`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from soundtime.blobs.store import BlobStore
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.serve import (
    QUICK_FAILURES,
    clean_env,
    configured_server,
    free_udp_port,
    login,
    register,
    scalar,
    scalar_text,
    sigkill,
    start_server,
    start_servers,
    until,
)

_databases = count()
ALBUMS, PER_ALBUM = 8, 30


@pytest.fixture
def database(make_database: Callable[[str], str]) -> str:
    """A new, empty database for one test (the processes migrate it)."""
    return make_database(f"soundtime_crash_{next(_databases)}")


def stores(data: Path, url: str) -> list[BlobStore]:
    settings = make_settings(data, url)
    return [BlobStore(settings.audio_dir), BlobStore(settings.blobs_dir), BlobStore(settings.cache_dir)]


def leftovers(data: Path) -> list[str]:
    """Unfinished writes and staged removals in every store's ``.tmp`` (lock files of live owners aside)."""
    return sorted(
        str(path.relative_to(data))
        for path in data.rglob("*")
        if path.parent.name == ".tmp" and path.suffix in {".part", ".removing"}
    )


async def check_consistent(data: Path, url: str, *, swept: bool = True) -> None:
    """Every stored blob hashes to its name; every track row that says its audio is here, and every cover row,
    has its blob with its size; no album without a track; once ``swept`` (a start-up ran), nothing unfinished in
    the stores' ``.tmp``."""
    audio, covers, cache = stores(data, url)
    for store in (audio, covers, cache):
        for digest in store.iter_digests():
            assert store.verify(digest), f"{store.root}/{digest} does not match its hash"
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tracks = await conn.execute(text("SELECT content_hash, file_size FROM tracks WHERE file_path IS NOT NULL"))
            for digest, size in tracks.all():
                assert audio.size(digest) == size, f"track audio {digest} missing or of another size"
            for digest, size in (await conn.execute(text("SELECT hash, size FROM covers"))).all():
                assert covers.size(digest) == size, f"cover {digest} missing or of another size"
            empty = await conn.execute(
                text("SELECT title FROM albums a WHERE NOT EXISTS (SELECT FROM tracks t WHERE t.album_id = a.id)")
            )
            assert empty.scalars().all() == []
    finally:
        await engine.dispose()
    if swept:
        assert leftovers(data) == []


def environment(data: Path, url: str, **more: str) -> dict[str, str]:
    return {
        **clean_env(),
        "SOUNDTIME_DATA_DIR": str(data),
        "DATABASE_URL": url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "LOG_LEVEL": "warning",
        **more,
    }


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and everything it started (as an OOM kill or a power cut would end them)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def collection(folder: Path, audio: AudioFactory) -> dict[str, int]:
    """ALBUMS albums of PER_ALBUM distinct FLAC files; album → track count."""
    for album in range(ALBUMS):
        for number in range(1, PER_ALBUM + 1):
            spec = TrackSpec(title=f"Part {number}", album=f"Album {album}", track_number=number, duration=2.0)
            audio.make(folder / f"album {album}" / f"{number:02}.flac", "flac", spec)
    return {f"Album {album}": PER_ALBUM for album in range(ALBUMS)}


def run_import(folder: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "soundtime", "import", str(folder), "--workers", "2"],
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )


async def albums(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT a.title, count(*) FROM tracks t JOIN albums a ON a.id = t.album_id GROUP BY a.title")
            )
            return dict(rows.all())
    finally:
        await engine.dispose()


async def test_an_import_killed_half_way_leaves_a_consistent_library_and_completes_when_run_again(
    database: str, audio: AudioFactory, tmp_path: Path
) -> None:
    folder, data = tmp_path / "Music", tmp_path / "data"
    expected = collection(folder, audio)
    env = environment(data, database)
    migrate = [sys.executable, "-m", "soundtime", "migrate"]
    migrated = await asyncio.to_thread(subprocess.run, migrate, env=env, capture_output=True, check=False)
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path / "import.log"
    first = run_import(folder, env, log)
    try:

        async def some_committed() -> bool:
            assert first.poll() is None, "the import finished before it could be killed half-way"
            return await scalar(database, "SELECT count(*) FROM tracks") > 0

        await until(some_committed, "a first committed track")
    finally:
        kill_group(first)
    imported = await scalar(database, "SELECT count(*) FROM tracks")
    assert 0 < imported < ALBUMS * PER_ALBUM
    await check_consistent(data, database, swept=False)  # the kill left at most temporary files

    again = run_import(folder, env, log)
    assert await asyncio.to_thread(again.wait, 300) == 0, log.read_text()
    await check_consistent(data, database)
    assert await albums(database) == expected  # every album whole, no track twice
    assert await scalar(database, "SELECT count(*) FROM imported_files") == ALBUMS * PER_ALBUM


class SlowUpload:
    """Sends one file as multipart/form-data in small pieces from a thread, until the server goes away."""

    def __init__(self, url: str, token: str, data: bytes) -> None:
        self.url, self.token, self.data = url, token, data
        self.outcome: object = None
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _body(self) -> Iterator[bytes]:
        boundary = "crash-test-boundary"
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        for start in range(0, len(self.data), 64 * 1024):
            yield self.data[start : start + 64 * 1024]
            time.sleep(0.02)
        yield f"\r\n--{boundary}--\r\n".encode()

    def _send(self) -> None:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "multipart/form-data; boundary=crash-test-boundary",
        }
        try:
            self.outcome = httpx.post(f"{self.url}/api/upload", content=self._body(), headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            self.outcome = exc


async def test_a_server_killed_during_an_upload_keeps_nothing_of_it_and_takes_it_again(
    database: str, audio: AudioFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    wav = audio.make(tmp_path / "long.wav", "wav", TrackSpec(title="Long", duration=30.0)).read_bytes()
    server = start_server(tmp_path, database)
    try:
        upload = SlowUpload(server.url, register(server), wav)
        upload.thread.start()

        async def receiving() -> bool:
            return any(path.stat().st_size > 0 for path in (data_dir / "music" / ".tmp").glob("*.part"))

        await until(receiving, "the upload's bytes arriving in the audio store")
        sigkill(server)
        upload.thread.join(timeout=60)
        assert isinstance(upload.outcome, httpx.HTTPError)  # the client saw the server go, not a success
        assert leftovers(data_dir)  # what the kill left

        server.start()  # a start-up removes what the killed server left
        await check_consistent(data_dir, database)
        assert await scalar(database, "SELECT count(*) FROM tracks") == 0
        headers = {"Authorization": f"Bearer {login(server)}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as http:
            again = await http.post("/api/upload", files={"file": ("long.wav", wav)})
            assert again.status_code == 201, again.text
            streamed = await http.get(f"/api/tracks/{again.json()['track']['id']}/stream")
        assert streamed.content == wav
        await check_consistent(data_dir, database)
    finally:
        server.kill()


FILLERS = 30_000


async def add_fillers(url: str, number: int) -> None:
    """``number`` more tracks in A's catalogue (rows only: they are announced to peers like any other)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO tracks (id, title, artist_id, album_id, duration_secs, format, content_hash, "
                    "file_path, file_size, created_at, updated_at) "
                    "SELECT gen_random_uuid(), 'Filler ' || g, t.artist_id, t.album_id, 180, 'mp3', "
                    "encode(sha256(convert_to('filler ' || g, 'UTF8')), 'hex'), 'filler', 4000000, now(), now() "
                    "FROM generate_series(1, :number) AS g, (SELECT artist_id, album_id FROM tracks LIMIT 1) AS t"
                ),
                {"number": number},
            )
    finally:
        await engine.dispose()


@pytest.mark.timeout(300)
async def test_a_server_killed_during_a_catalogue_sync_and_a_remote_fetch_recovers_both(
    make_database: Callable[[str], str], audio: AudioFactory, tmp_path: Path
) -> None:
    a_db, b_db = (
        make_database(f"soundtime_crash_{next(_databases)}"),
        make_database(f"soundtime_crash_{next(_databases)}"),
    )
    wav = audio.make(tmp_path / "long.wav", "wav", TrackSpec(title="Long", duration=30.0)).read_bytes()
    a, b = start_servers(
        configured_server(tmp_path / "a", a_db, P2P_ENABLED="true", P2P_TIMINGS=QUICK_FAILURES),
        configured_server(
            tmp_path / "b", b_db, P2P_ENABLED="true", P2P_BIND_PORT=str(free_udp_port()), P2P_TIMINGS=QUICK_FAILURES
        ),
    )
    b_data = tmp_path / "b" / "data"
    try:
        a_headers = {"Authorization": f"Bearer {register(a)}"}
        async with httpx.AsyncClient(base_url=a.url, headers=a_headers, timeout=60) as http:
            uploaded = await http.post("/api/upload", files={"file": ("long.wav", wav)})
            assert uploaded.status_code == 201, uploaded.text
            status = (await http.get("/api/p2p/status")).json()
        digest, a_id = uploaded.json()["track"]["content_hash"], status["node_id"]
        await add_fillers(a_db, FILLERS)
        total = FILLERS + 1
        replicated = f"SELECT count(*) FROM tracks WHERE origin_node = '{a_id}'"

        # 1. B learns of A and receives its catalogue; B is killed while the pages arrive.
        b_headers = {"Authorization": f"Bearer {register(b)}"}
        async with httpx.AsyncClient(base_url=b.url, headers=b_headers, timeout=60) as http:
            added = await http.post("/api/admin/p2p/peers", json={"node_id": status["ticket"]})
            assert added.status_code == 201, added.text

        async def syncing() -> bool:
            arrived = await scalar(b_db, replicated)
            assert arrived < total, "the catalogue arrived before B could be killed during the sync"
            return arrived > 0

        await until(syncing, "the first replicated tracks on B")
        sigkill(b)
        assert 0 < await scalar(b_db, replicated) < total
        await check_consistent(b_data, b_db, swept=False)

        b.start()
        await check_consistent(b_data, b_db)

        # Nobody intervenes: the rest of the catalogue arrives by itself, nothing twice.
        async def complete() -> bool:
            return await scalar(b_db, replicated) == total

        await until(complete, "the whole catalogue on B after the restart", within=150)
        assert await scalar(b_db, "SELECT count(DISTINCT content_hash) FROM tracks") == total

        # 2. A listener on B plays A's track; B is killed while the audio arrives from A.
        track_id = await scalar_text(b_db, f"SELECT id::text FROM tracks WHERE content_hash = '{digest}'")
        b_headers = {"Authorization": f"Bearer {login(b)}"}
        async with (
            httpx.AsyncClient(base_url=b.url, headers=b_headers, timeout=60) as http,
            http.stream("GET", f"/api/tracks/{track_id}/stream") as response,
        ):
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                sigkill(b)
                break
        await check_consistent(b_data, b_db, swept=False)  # no partial audio in the cache under its hash

        b.start()
        await check_consistent(b_data, b_db)
        b_headers = {"Authorization": f"Bearer {login(b)}"}
        async with httpx.AsyncClient(base_url=b.url, headers=b_headers, timeout=60) as http:
            again = await http.get(f"/api/tracks/{track_id}/stream")
        assert (again.status_code, again.content) == (200, wav)
        await check_consistent(b_data, b_db)
    finally:
        a.kill()
        b.kill()
