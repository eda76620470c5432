"""A writer process killed mid-write or mid-commit never leaves a partial blob under a digest path."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from soundtime.blobs.store import BlobStore
from tests.blobs.helpers import files_outside_temp, temp_files

_SLOW_WRITER = """
import sys, time
from pathlib import Path
from soundtime.blobs.store import BlobStore

writer = BlobStore(Path(sys.argv[1])).writer()
writer.write(b"x" * 1_000_000)
print(writer.temp_path, flush=True)
while True:
    writer.write(b"y" * 65536)
    time.sleep(0.01)
"""

_BUSY_WRITER = """
import os, sys
from pathlib import Path
from soundtime.blobs.store import BlobStore

store = BlobStore(Path(sys.argv[1]))
print("ready", flush=True)
while True:
    store.put_bytes(os.urandom(200_000))
"""


def _spawn(code: str, root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent
    )


def test_crash_mid_write_leaves_only_temp(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    child = _spawn(_SLOW_WRITER, root)
    assert child.stdout is not None
    temp = Path(child.stdout.readline().strip())
    time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()

    store = BlobStore(root)
    assert temp.parent == store.temp_dir
    assert temp.stat().st_size >= 1_000_000
    assert list(store.iter_digests()) == []
    assert files_outside_temp(store) == []
    assert store.cleanup_temp(older_than=0) == 1
    assert temp_files(store) == []


def test_crash_during_commits_never_publishes_partial_blobs(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    child = _spawn(_BUSY_WRITER, root)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()

    store = BlobStore(root)
    digests = list(store.iter_digests())
    assert digests
    assert all(store.verify(d) for d in digests)
    assert {p.name for p in files_outside_temp(store)} == set(digests)
    store.cleanup_temp(older_than=0)
    assert temp_files(store) == []
