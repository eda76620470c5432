"""Tests for blob store upkeep: verify, delete, iter_digests, cleanup_temp, staged removal."""

from __future__ import annotations

import os
import time

import pytest

from soundtime.blobs.store import BlobError, BlobNotFound, BlobStore
from tests.blobs.helpers import b3, temp_files

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
