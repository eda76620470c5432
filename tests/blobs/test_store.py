"""Tests for BlobStore: digests and errors, round trips, publishing races, hostile digests."""

from __future__ import annotations

import errno
import os
import pickle
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from soundtime.blobs.store import (
    DIGEST_RE,
    BlobError,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    HashMismatch,
    InvalidDigest,
    is_digest,
)
from tests.blobs.helpers import HOSTILE, MIB, b3, temp_files

# -- digests and errors -------------------------------------------------------------------------


def test_digest_regex_accepts_only_lowercase_hex() -> None:
    assert is_digest(b3(b"x"))
    assert DIGEST_RE.match(b3(b"x"))
    for bad in HOSTILE:
        assert not is_digest(bad)
        assert DIGEST_RE.match(bad) is None


@pytest.mark.parametrize(
    "error",
    [InvalidDigest("../x"), BlobTooLarge(10), HashMismatch("a" * 64, "b" * 64), BlobNotFound("c" * 64)],
)
def test_errors_survive_pickling(error: BlobError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3 * MIB + 17])
def test_put_bytes_round_trip(store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    ref = store.put_bytes(data)
    assert ref.digest == b3(data)
    assert ref.size == size
    assert ref.created
    assert store.exists(ref.digest)
    assert store.size(ref.digest) == size
    assert b"".join(store.read_range(ref.digest)) == data
    assert store.read_bytes(ref.digest, max_size=size) == data
    assert store.verify(ref.digest)
    path = store.path_for(ref.digest)
    assert path == store.root / ref.digest[:2] / ref.digest
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert temp_files(store) == []


def test_dedup_flag(store: BlobStore) -> None:
    first = store.put_bytes(b"same bytes")
    second = store.put_bytes(b"same bytes")
    with store.writer() as writer:
        writer.write(b"same bytes")
        third = writer.commit()
    assert first.created
    assert not second.created
    assert not third.created
    assert first.digest == second.digest == third.digest
    assert list(store.iter_digests()) == [first.digest]
    assert temp_files(store) == []


def test_unfsynced_store_round_trip(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "nosync", fsync=False)
    ref = store.put_bytes(b"quick")
    assert store.read_bytes(ref.digest, max_size=10) == b"quick"


def test_store_directories(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    store = BlobStore(root)
    assert store.root == root
    assert stat.S_IMODE(store.temp_dir.stat().st_mode) == 0o700
    store.temp_dir.chmod(0o755)
    BlobStore(root)
    assert stat.S_IMODE(store.temp_dir.stat().st_mode) == 0o700


def test_relative_path(store: BlobStore) -> None:
    digest = b3(b"x")
    assert store.relative_path(digest) == f"{digest[:2]}/{digest}"
    assert store.root / store.relative_path(digest) == store.path_for(digest)
    with pytest.raises(InvalidDigest):
        store.relative_path("../etc/passwd")


# -- concurrent publishing ----------------------------------------------------------------------


def test_concurrent_writers_same_content(store: BlobStore) -> None:
    data = os.urandom(512 * 1024)
    count = 8
    barrier = threading.Barrier(count)
    results = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with store.writer() as writer:
                writer.write(data)
                barrier.wait()
                ref = writer.commit()
            with lock:
                results.append(ref)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {r.digest for r in results} == {b3(data)}
    assert sum(r.created for r in results) == 1
    assert store.verify(b3(data))
    assert temp_files(store) == []


def test_concurrent_writers_distinct_content(store: BlobStore) -> None:
    payloads = [os.urandom(10_000 + i) for i in range(32)]
    threads = [threading.Thread(target=store.put_bytes, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(store.iter_digests()) == sorted(b3(p) for p in payloads)


def test_rename_fallback_without_hard_links(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", no_link)
    ref = store.put_bytes(b"on a filesystem without links")
    assert ref.created
    assert store.verify(ref.digest)
    with store.writer() as writer:
        writer.write(b"on a filesystem without links")
        assert writer.commit().created is False
    assert temp_files(store) == []


# -- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", HOSTILE)
def test_hostile_digests_refused(store: BlobStore, digest: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.path_for(digest),
        lambda: store.exists(digest),
        lambda: store.size(digest),
        lambda: store.read_range(digest),
        lambda: store.read_bytes(digest, max_size=1),
        lambda: store.verify(digest),
        lambda: store.delete(digest),
        lambda: store.put_bytes(b"x", expected_digest=digest),
    ]
    for call in calls:
        with pytest.raises(InvalidDigest):
            call()
    assert issubclass(InvalidDigest, ValueError)


async def test_hostile_digest_refused_async(store: BlobStore) -> None:
    with pytest.raises(InvalidDigest):
        [c async for c in store.aread_range("../etc/passwd")]
