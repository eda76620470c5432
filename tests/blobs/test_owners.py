"""Temporary files belong to a live process or to nobody: a process that is gone leaves nothing for long, one that
is alive (the server next to a `soundtime import`) keeps what it is writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soundtime.blobs.store import BlobStore
from tests.blobs.helpers import temp_files

# Stages two temp files and one staged removal, prints the owner, then waits (killed by the test, or exits).
_STAGER = """
import sys
from pathlib import Path
from soundtime.blobs.store import BlobStore

store = BlobStore(Path(sys.argv[1]), owner=sys.argv[2] if len(sys.argv) > 2 else None)
writers = [store.writer() for _ in range(2)]
for writer in writers:
    writer.write(b"half of a file")
digest = store.put_bytes(b"a blob being removed").digest
store.stage_removal(digest)
print(store.owner, flush=True)
sys.stdin.readline()
"""


def stage_in_child(root: Path, owner: str | None = None) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-c", _STAGER, str(root), *([owner] if owner else [])]
    child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def test_the_files_of_a_killed_process_are_cleared_at_once(store: BlobStore) -> None:
    child, owner = stage_in_child(store.root)
    kill(child)
    left = temp_files(store)
    assert sum(name.endswith(".part") for name in left) == 2
    assert sum(name.endswith(".removing") for name in left) == 1
    assert store.cleanup_temp() == 3  # younger than an hour, but nobody will finish them
    assert temp_files(store) == []
    assert not (store.temp_dir / f"{owner}.owner").exists()
    assert [store.read_bytes(d, max_size=100) for d in store.iter_digests()] == [b"a blob being removed"]


def test_the_files_of_a_live_process_are_kept_until_it_is_gone(store: BlobStore) -> None:
    child, owner = stage_in_child(store.root)
    try:
        ours = store.writer()
        ours.write(b"ours, in flight")
        assert store.cleanup_temp() == 0
        assert len(temp_files(store)) == 4
        assert (store.temp_dir / f"{owner}.owner").exists()
    finally:
        kill(child)
    assert store.cleanup_temp() == 3
    assert temp_files(store) == [ours.temp_path.name]
    assert ours.commit().created


def test_a_worker_writing_for_its_parent_keeps_its_files_while_the_parent_lives(store: BlobStore) -> None:
    child, owner = stage_in_child(store.root, owner=store.owner)
    assert owner == store.owner
    assert child.stdin is not None
    child.stdin.write("\n")
    child.stdin.close()
    child.wait()  # the worker is gone, the import (this process) is not
    assert child.stdout is not None
    child.stdout.close()
    assert store.cleanup_temp() == 0
    assert len(temp_files(store)) == 3


def test_files_of_a_live_process_untouched_for_an_hour_are_a_leak(store: BlobStore) -> None:
    leaked, fresh = store.writer(), store.writer()
    leaked.write(b"forgotten")
    fresh.write(b"still arriving")
    old = time.time() - 7200
    os.utime(leaked.temp_path, (old, old))
    assert store.cleanup_temp() == 1
    assert temp_files(store) == [fresh.temp_path.name]
    leaked.abort()
    fresh.abort()


def test_names_from_before_owners_are_cleared_by_age(store: BlobStore) -> None:
    legacy = store.temp_dir / "12345-0123456789abcdef.part"
    legacy.write_bytes(b"from an older version")
    assert store.cleanup_temp() == 0
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    assert store.cleanup_temp() == 1


def test_an_owner_must_look_like_one(tmp_path: Path) -> None:
    for bad in ("../x", "ABCDEF0123456789", "0123", "0123456789abcdef\n"):
        with pytest.raises(ValueError, match="not an owner"):
            BlobStore(tmp_path / "s", owner=bad)
