"""A killed folder import leaves no temporary files behind for long: the next start-up (or the running server's
sweep) removes them — but never those of an import that is still running next to the server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from soundtime.config import Settings
from soundtime.library import maintenance
from tests.conftest import running_app
from tests.p2p.conftest import eventually
from tests.support.api import context_of
from tests.support.audio import AudioFactory, TrackSpec


def parts(folder: Path) -> list[str]:
    """Unfinished temporary files in a store's ``.tmp`` (none while the store, or its ``.tmp``, is still being
    made: the importer creates the two one after the other)."""
    try:
        names = os.listdir(folder / ".tmp")
    except FileNotFoundError:
        return []
    return sorted(name for name in names if name.endswith(".part"))


def start_import(settings: Settings, folder: Path) -> subprocess.Popen[bytes]:
    """`soundtime import FOLDER` against the test instance's data folder and database (its own process group)."""
    env = {
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}},
        "SOUNDTIME_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url or "",
        "LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "soundtime", "import", str(folder), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def wait_for_parts(folder: Path, child: subprocess.Popen[bytes]) -> None:
    async with asyncio.timeout(120):
        while not parts(folder):
            assert child.poll() is None, "the import finished before it could be caught mid-way"
            await asyncio.sleep(0.005)


def many_files(folder: Path, audio: AudioFactory, tmp_path: Path, count: int) -> None:
    data = audio.make(tmp_path / "one.flac", "flac", TrackSpec(title="Again", duration=3.0)).read_bytes()
    folder.mkdir()
    for number in range(count):
        (folder / f"{number:04}.flac").write_bytes(data + number.to_bytes(4, "big"))  # distinct bytes


async def test_a_killed_import_leaves_nothing_after_the_next_start(
    settings: Settings, audio: AudioFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "Music"
    many_files(folder, audio, tmp_path, 400)
    child = start_import(settings, folder)
    try:
        await wait_for_parts(settings.audio_dir, child)
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the import and its workers, as a crash or an OOM kill would
        child.wait()
    assert parts(settings.audio_dir)  # what the crash left
    async with running_app(settings):
        assert parts(settings.audio_dir) == []


async def test_a_running_import_keeps_its_files_and_the_sweep_takes_them_once_it_is_killed(
    settings: Settings, audio: AudioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "TEMP_SWEEP_SECONDS", 0.1)
    folder = tmp_path / "Music"
    many_files(folder, audio, tmp_path, 400)
    async with running_app(settings) as app:
        child = start_import(settings, folder)
        try:
            await wait_for_parts(settings.audio_dir, child)
            os.kill(child.pid, signal.SIGSTOP)  # frozen mid-import: alive, its files in use
            await asyncio.to_thread(maintenance.sweep_temp, [context_of(app).audio])
            frozen = parts(settings.audio_dir)
            assert frozen  # nothing of a live import was taken
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()

        async def swept() -> bool:
            return not parts(settings.audio_dir)

        assert await eventually(swept, within=60)  # the server's periodic sweep, no restart needed
