"""Tests for the BLAKE3 content-addressed blob store."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path

import pytest
from blake3 import blake3

from soundtime.blobs.store import (
    DIGEST_RE,
    BlobError,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    HashMismatch,
    InvalidDigest,
    PendingBlob,
    hash_file,
    is_digest,
)

MIB = 1 << 20
HOSTILE = [
    "../etc/passwd",
    "../" + "a" * 61,
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "a" * 64 + "\n",
    "\n" + "a" * 63,
    "g" * 64,
    "\uff10" * 64,  # full-width digits
    "",
    "aa/" + "a" * 61,
]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def b3(data: bytes) -> str:
    return blake3(data).hexdigest()


def temp_files(store: BlobStore) -> list[str]:
    return sorted(os.listdir(store.temp_dir))


def files_outside_temp(store: BlobStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file() and store.temp_dir not in p.parents]


# -- digests and hashing ------------------------------------------------------------------------


def test_digest_regex_accepts_only_lowercase_hex() -> None:
    assert is_digest(b3(b"x"))
    assert DIGEST_RE.match(b3(b"x"))
    for bad in HOSTILE:
        assert not is_digest(bad)
        assert DIGEST_RE.match(bad) is None


@pytest.mark.parametrize("size", [0, 1, 5 * MIB + 3])
def test_hash_file(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hash_file(path) == (b3(data), size)


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


@pytest.mark.parametrize("size", [0, 1, MIB, 5 * MIB + 3])
def test_put_file_round_trip(store: BlobStore, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    src = tmp_path / "src.flac"
    src.write_bytes(data)
    ref = store.put_file(src)
    assert (ref.digest, ref.size, ref.created) == (b3(data), size, True)
    assert store.path_for(ref.digest).read_bytes() == data
    assert store.put_file(src).created is False
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


# -- writer -------------------------------------------------------------------------------------


def test_writer_incremental(store: BlobStore) -> None:
    parts: list[bytes | memoryview] = [b"ab", memoryview(b"cde"), b"", os.urandom(100_000)]
    data = b"".join(bytes(p) for p in parts)
    with store.writer() as writer:
        for part in parts:
            writer.write(part)
        assert writer.size == len(data)
        assert writer.digest() == b3(data)
        assert writer.temp_path.read_bytes() == data  # readable before commit
        assert writer.temp_path.parent == store.temp_dir
        ref = writer.commit(expected_digest=b3(data))
    assert ref.digest == b3(data)
    assert not writer.temp_path.exists()
    with pytest.raises(BlobError, match="committed"):
        writer.write(b"more")
    with pytest.raises(BlobError, match="committed"):
        writer.commit()


def test_writer_context_manager_aborts(store: BlobStore) -> None:
    with store.writer() as writer:
        writer.write(b"never committed")
        temp = writer.temp_path
        assert temp.exists()
    assert not temp.exists()
    writer.abort()  # idempotent
    with pytest.raises(BlobError, match="aborted"):
        writer.commit()

    def interrupted_upload() -> None:
        with store.writer() as failing:
            failing.write(b"partial")
            raise RuntimeError(failing.temp_path)

    with pytest.raises(RuntimeError) as info:
        interrupted_upload()
    assert not Path(info.value.args[0]).exists()
    assert temp_files(store) == []
    assert list(store.iter_digests()) == []


def test_max_size(store: BlobStore, tmp_path: Path) -> None:
    writer = store.writer(max_size=10)
    writer.write(b"12345")
    writer.write(b"67890")  # exactly at the limit is fine
    with pytest.raises(BlobTooLarge) as info:
        writer.write(b"x")
    assert info.value.limit == 10
    assert not writer.temp_path.exists()
    with pytest.raises(BlobError, match="aborted"):
        writer.commit()

    src = tmp_path / "big"
    src.write_bytes(os.urandom(MIB + 1))
    with pytest.raises(BlobTooLarge):
        store.put_file(src, max_size=MIB)
    assert store.put_file(src, max_size=MIB + 1).size == MIB + 1
    assert temp_files(store) == []


def test_hash_mismatch_leaves_nothing(store: BlobStore) -> None:
    wrong = b3(b"something else")
    writer = store.writer()
    writer.write(b"payload")
    with pytest.raises(HashMismatch) as info:
        writer.commit(expected_digest=wrong)
    assert (info.value.expected, info.value.actual) == (wrong, b3(b"payload"))
    with pytest.raises(HashMismatch):
        store.put_bytes(b"payload", expected_digest=wrong)
    assert temp_files(store) == []
    assert files_outside_temp(store) == []
    assert store.put_bytes(b"payload", expected_digest=b3(b"payload")).created


def test_commit_rejects_malformed_expected_digest(store: BlobStore) -> None:
    writer = store.writer()
    writer.write(b"payload")
    with pytest.raises(InvalidDigest):
        writer.commit(expected_digest=b3(b"payload").upper())
    assert temp_files(store) == []


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


# -- reads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (0, 1000),
        (0, 0),
        (0, 1),
        (7, 8),
        (10, 500),
        (999, None),
        (999, 1000),
        (1000, None),
        (1000, 1000),
    ],
)
def test_read_range(store: BlobStore, start: int, end: int | None) -> None:
    data = os.urandom(1000)
    digest = store.put_bytes(data).digest
    expected = data[start:end]
    chunks = list(store.read_range(digest, start, end, chunk_size=64))
    assert b"".join(chunks) == expected
    assert all(0 < len(c) <= 64 for c in chunks)
    assert len(chunks) == -(-len(expected) // 64)


@pytest.mark.parametrize(("start", "end"), [(0, 1001), (1001, None), (-1, None), (5, 4), (0, -1)])
def test_read_range_rejects_bad_ranges(store: BlobStore, start: int, end: int | None) -> None:
    digest = store.put_bytes(os.urandom(1000)).digest
    with pytest.raises(ValueError, match="invalid range"):
        store.read_range(digest, start, end)  # raised by the call, before iteration


def test_read_errors(store: BlobStore) -> None:
    digest = store.put_bytes(b"0123456789").digest
    with pytest.raises(ValueError, match="chunk_size"):
        store.read_range(digest, chunk_size=0)
    missing = b3(b"missing")
    with pytest.raises(BlobNotFound):
        store.read_range(missing)
    with pytest.raises(FileNotFoundError):
        store.read_bytes(missing, max_size=10)
    with pytest.raises(BlobTooLarge) as info:
        store.read_bytes(digest, max_size=9)
    assert info.value.limit == 9
    assert store.size(missing) is None
    assert not store.exists(missing)


async def test_aread_range(store: BlobStore) -> None:
    data = os.urandom(3 * MIB + 5)
    digest = store.put_bytes(data).digest
    chunks = [c async for c in store.aread_range(digest, chunk_size=MIB)]
    assert [len(c) for c in chunks] == [MIB, MIB, MIB, 5]
    assert b"".join(chunks) == data
    assert b"".join([c async for c in store.aread_range(digest, 10, 20)]) == data[10:20]
    assert [c async for c in store.aread_range(digest, 5, 5)] == []

    with pytest.raises(ValueError, match="invalid range"):
        [c async for c in store.aread_range(digest, 0, len(data) + 1)]
    with pytest.raises(BlobNotFound):
        [c async for c in store.aread_range(b3(b"missing"))]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_aread_range_closes_file_when_consumer_stops(store: BlobStore) -> None:
    digest = store.put_bytes(os.urandom(MIB)).digest
    before = len(os.listdir("/proc/self/fd"))
    async with aclosing(store.aread_range(digest, chunk_size=1024)) as chunks:
        async for _ in chunks:
            assert len(os.listdir("/proc/self/fd")) == before + 1
            break
    assert len(os.listdir("/proc/self/fd")) == before

    sync_chunks = store.read_range(digest, chunk_size=1024)
    next(sync_chunks)
    sync_chunks.close()
    assert len(os.listdir("/proc/self/fd")) == before


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


# -- maintenance --------------------------------------------------------------------------------


def test_verify_detects_corruption(store: BlobStore) -> None:
    data = os.urandom(200_000)
    digest = store.put_bytes(data).digest
    assert store.verify(digest)
    path = store.path_for(digest)
    path.chmod(0o644)
    with path.open("r+b") as blob:
        blob.seek(123_456)
        blob.write(bytes([data[123_456] ^ 0xFF]))
    assert not store.verify(digest)
    with pytest.raises(BlobNotFound):
        store.verify(b3(b"missing"))


def test_delete(store: BlobStore) -> None:
    digest = store.put_bytes(b"to delete").digest
    assert store.delete(digest)
    assert not store.exists(digest)
    assert not store.delete(digest)
    assert list(store.iter_digests()) == []
    assert store.put_bytes(b"to delete").created  # can be stored again


def test_iter_digests_ignores_strays(store: BlobStore) -> None:
    digests = {store.put_bytes(os.urandom(100)).digest for _ in range(20)}
    (store.root / "README").write_text("not a blob")
    (store.root / "zz").mkdir()
    (store.root / "zz" / ("z" * 64)).write_text("bad shard")
    some = next(iter(digests))
    (store.root / some[:2] / "junk").write_text("junk")
    other_shard = "00" if some[:2] != "00" else "01"
    (store.root / other_shard).mkdir(exist_ok=True)
    (store.root / other_shard / some).write_text("digest in the wrong shard")
    with store.writer() as writer:
        writer.write(b"in flight")
        assert set(store.iter_digests()) == digests


def test_cleanup_temp_removes_only_stale(store: BlobStore) -> None:
    blob = store.put_bytes(b"committed")
    old = time.time() - 7200
    os.utime(store.path_for(blob.digest), (old, old))
    stale = store.writer()
    stale.write(b"left by a crash")
    os.utime(stale.temp_path, (old, old))
    fresh = store.writer()
    fresh.write(b"still uploading")

    assert store.cleanup_temp() == 1
    assert not stale.temp_path.exists()
    assert fresh.temp_path.exists()
    assert store.verify(blob.digest)
    with pytest.raises(BlobError, match="vanished"):
        stale.commit()
    assert fresh.commit().created
    assert store.cleanup_temp(older_than=0) == 0


# -- crashes ------------------------------------------------------------------------------------

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


# -- staged writes (finish / commit_pending_many) -----------------------------------------------


def test_finish_then_commit_pending_many(store: BlobStore) -> None:
    payloads = [b"first", b"second", b"first"]  # a duplicate within the batch
    pending = []
    for data in payloads:
        with store.writer() as writer:
            writer.write(data)
            item = writer.finish()
        pending.append(item)
        assert item.temp_path.exists()  # survives the context manager
        assert item.temp_path.read_bytes() == data
        assert stat.S_IMODE(item.temp_path.stat().st_mode) == 0o444
        assert (item.digest, item.size) == (b3(data), len(data))
        assert not store.exists(item.digest)  # sealed, not published
        with pytest.raises(BlobError, match="finished"):
            writer.commit()

    refs = store.commit_pending_many(pending)
    assert [(r.digest, r.created) for r in refs] == [(b3(b"first"), True), (b3(b"second"), True), (b3(b"first"), False)]
    assert sorted(store.iter_digests()) == sorted({b3(b"first"), b3(b"second")})
    assert temp_files(store) == []
    assert store.commit_pending_many([]) == []


def test_pending_blob_crosses_processes(store: BlobStore, tmp_path: Path) -> None:
    link = tmp_path / "alias"
    link.symlink_to(store.root)
    worker_store = BlobStore(link)  # another process, another spelling of the same root
    with worker_store.writer() as writer:
        writer.write(b"from a worker")
        item = pickle.loads(pickle.dumps(writer.finish()))
    assert isinstance(item, PendingBlob)
    (ref,) = store.commit_pending_many([item])
    assert ref.created
    assert store.read_bytes(ref.digest, max_size=100) == b"from a worker"


def test_discard_pending(store: BlobStore) -> None:
    with store.writer() as writer:
        writer.write(b"rejected after reading its tags")
        item = writer.finish()
    store.discard_pending(item)
    store.discard_pending(item)  # idempotent
    assert temp_files(store) == []
    assert not store.exists(item.digest)


def test_commit_pending_refuses_foreign_files(store: BlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.write_bytes(b"keep me")
    digest = b3(b"keep me")
    with pytest.raises(BlobError, match="not a temp file"):
        store.commit_pending_many([PendingBlob(digest, 7, outside)])
    with pytest.raises(BlobError, match="not a temp file"):
        store.discard_pending(PendingBlob(digest, 7, outside))
    with pytest.raises(InvalidDigest):
        store.commit_pending_many([PendingBlob("../x", 7, store.temp_dir / "1-0123456789abcdef.part")])
    assert outside.read_bytes() == b"keep me"
    assert not store.exists(digest)


def test_commit_pending_consumes_temps_on_failure(store: BlobStore) -> None:
    items = []
    for data in (b"one", b"two"):
        with store.writer() as writer:
            writer.write(data)
            items.append(writer.finish())
    items[1].temp_path.unlink()
    with pytest.raises(BlobError, match="vanished"):
        store.commit_pending_many(items)
    assert temp_files(store) == []


def test_relative_path(store: BlobStore) -> None:
    digest = b3(b"x")
    assert store.relative_path(digest) == f"{digest[:2]}/{digest}"
    assert store.root / store.relative_path(digest) == store.path_for(digest)
    with pytest.raises(InvalidDigest):
        store.relative_path("../etc/passwd")


# -- staged removal -----------------------------------------------------------------------------


def test_stage_removal_confirm(store: BlobStore) -> None:
    digest = store.put_bytes(b"deleted track").digest
    staged = store.stage_removal(digest)
    assert staged is not None
    assert not store.exists(digest)  # gone at once
    staged.confirm()
    staged.confirm()
    assert not store.exists(digest)
    assert temp_files(store) == []
    assert store.stage_removal(digest) is None


def test_stage_removal_cancel(store: BlobStore) -> None:
    digest = store.put_bytes(b"rolled back").digest
    staged = store.stage_removal(digest)
    assert staged is not None
    staged.cancel()
    staged.cancel()
    assert store.verify(digest)
    assert temp_files(store) == []


def test_stage_removal_cancel_after_reupload(store: BlobStore) -> None:
    digest = store.put_bytes(b"uploaded again").digest
    staged = store.stage_removal(digest)
    assert staged is not None
    assert store.put_bytes(b"uploaded again").created
    staged.cancel()
    assert store.verify(digest)
    assert temp_files(store) == []


def test_cleanup_temp_restores_staged_removals(store: BlobStore) -> None:
    digest = store.put_bytes(b"crash before commit").digest
    assert store.stage_removal(digest) is not None
    # the process dies here: neither confirm() nor cancel() runs
    assert BlobStore(store.root).cleanup_temp() == 1
    assert store.verify(digest)
    assert temp_files(store) == []
