"""The audio cache: bounded, least recently used out, rebuilt from disk, files really deleted."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from blake3 import blake3

from soundtime.blobs.refs import PendingBlob
from soundtime.p2p.cache import AudioCache
from tests.support.files import temp_entries


def sealed(cache: AudioCache, data: bytes) -> PendingBlob:
    writer = cache.store.writer()
    writer.write(data)
    return writer.finish()


def on_disk(root: Path) -> set[str]:
    return {name for _, _, names in os.walk(root) for name in names if len(name) == 64}


async def test_admitting_past_the_limit_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", max_size=3000)
    first, second, third = (os.urandom(1000) for _ in range(3))
    for data in (first, second, third):
        assert await cache.admit(sealed(cache, data))
    cache.touch(blake3(first).hexdigest())  # played again: now the most recent
    fourth = os.urandom(1500)
    assert await cache.admit(sealed(cache, fourth))
    kept = {blake3(d).hexdigest() for d in (first, fourth)}
    assert {d for d in kept if d in cache} == kept
    assert blake3(second).hexdigest() not in cache
    assert blake3(third).hexdigest() not in cache
    assert on_disk(tmp_path / "cache") == kept
    assert cache.total_size == 2500
    assert not temp_entries(cache.store.temp_dir)


async def test_a_blob_larger_than_the_cache_is_dropped_without_evicting(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", max_size=1000)
    small = os.urandom(600)
    await cache.admit(sealed(cache, small))
    assert not await cache.admit(sealed(cache, os.urandom(1001)))
    assert blake3(small).hexdigest() in cache
    assert on_disk(tmp_path / "cache") == {blake3(small).hexdigest()}
    assert not temp_entries(cache.store.temp_dir)


async def test_the_index_is_rebuilt_from_disk_in_order_of_last_use_and_shrunk_to_a_new_limit(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", max_size=10_000)
    blobs = [os.urandom(1000) for _ in range(4)]
    digests = [blake3(d).hexdigest() for d in blobs]
    for number, data in enumerate(blobs):
        await cache.admit(sealed(cache, data))
        os.utime(cache.store.path_for(digests[number]), (1_000_000 + number, 1_000_000 + number))
    os.utime(cache.store.path_for(digests[0]), (2_000_000, 2_000_000))  # the oldest was played last
    (cache.store.temp_dir / "123-0123456789abcdef.part").write_bytes(b"interrupted")  # a transfer cut by a crash

    smaller = AudioCache(tmp_path / "cache", max_size=2000)
    smaller.load()
    assert on_disk(tmp_path / "cache") == {digests[0], digests[3]}
    assert smaller.total_size == 2000
    assert len(smaller) == 2
    assert not temp_entries(smaller.store.temp_dir)


async def test_evicting_one_blob(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", max_size=10_000)
    data = os.urandom(100)
    await cache.admit(sealed(cache, data))
    digest = blake3(data).hexdigest()
    assert await cache.evict(digest)
    assert not await cache.evict(digest)
    assert on_disk(tmp_path / "cache") == set()
    assert cache.total_size == 0


async def test_concurrent_admissions_never_overshoot_and_a_cached_blob_evicts_nothing(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", max_size=3000)
    first = os.urandom(1000)
    for data in (first, os.urandom(1000), os.urandom(1000)):
        await cache.admit(sealed(cache, data))
    assert await cache.admit(sealed(cache, first))  # already cached: kept, nothing evicted
    assert len(cache) == 3
    await asyncio.gather(*(cache.admit(sealed(cache, os.urandom(1000))) for _ in range(2)))
    assert cache.total_size <= 3000
    assert sum(os.stat(cache.store.path_for(d)).st_size for d in cache.store.iter_digests()) == cache.total_size
    assert not temp_entries(cache.store.temp_dir)
