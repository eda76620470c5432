"""Tests for reading blobs: read_range, aread_range, read_bytes."""

from __future__ import annotations

import os
from contextlib import aclosing
from pathlib import Path

import pytest

from soundtime.blobs.store import BlobNotFound, BlobStore, BlobTooLarge
from tests.blobs.helpers import MIB, b3


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
