"""Tests for BlobWriter and staged writes (finish / commit_pending_many / discard_pending)."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from soundtime.blobs.store import BlobError, BlobStore, BlobTooLarge, HashMismatch, InvalidDigest, PendingBlob
from tests.blobs.helpers import b3, files_outside_temp, temp_files

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


def test_max_size(store: BlobStore) -> None:
    writer = store.writer(max_size=10)
    writer.write(b"12345")
    writer.write(b"67890")  # exactly at the limit is fine
    with pytest.raises(BlobTooLarge) as info:
        writer.write(b"x")
    assert info.value.limit == 10
    assert not writer.temp_path.exists()
    with pytest.raises(BlobError, match="aborted"):
        writer.commit()
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
