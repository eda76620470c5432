"""Catalog ingest, end to end between two processes on loopback (also run by p2p_bench.py).

Process A (a child) is a soundtime node whose database holds N tracks of its own, shaped as in
bench/benchlib.py (N/50 artists, N/12.5 albums, Zipf-distributed title words). Process B (this one) starts its
node with A as its seed peer: B pings A, A pushes its catalog as CatalogSync pages of 500 over iroh, B validates
and commits the rows (artists, albums, tracks with their search vectors, sources). The figure is N divided by
the time from B's start until all N tracks are committed in B's database (checked searchable: every row has its
search vector).

Also printed: the peak RSS of each process during the sync (memory bounded by page size, not catalogue size:
compare N = 20,000 with N = 250,000), and the CPU each party spent per track (receiver and sender processes,
and PostgreSQL for both databases): CPU per track hardly depends on how busy the shared machine is, tracks/s does.

Run alone:  .venv/bin/python bench/catalog_sync.py [N]      (N = 250,000 takes about 3 minutes with its set-up)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib
from sqlalchemy import func, select, text

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.models import Track
from soundtime.p2p.node import P2PNode
from soundtime.search.peers import PeerSearch

#: How often the receiver looks for the last track (one index lookup; rows are counted only once it is there). At
#: 0.2 s, the wait for the next look added ~0.1 s to a 2-second sync of 20,000 tracks: 5 % of the figure.
POLL_SECONDS = 0.02


def _peak_rss_mb(pid: int | str = "self") -> float:
    """The high-water mark of a process's resident memory (Linux VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) * 1024 / 1e6, 1)
    return 0.0


def _reset_peak_rss() -> None:
    """Start the high-water mark from the current RSS (Linux: "5" to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


async def _serve(url: str, data: Path) -> None:
    """Child process: run node A until stdin closes; print its dial address first, its peak RSS last."""
    settings = benchlib.node_settings(data, url)
    db = Database(url, pool_size=4)
    node = P2PNode(settings, db, BlobStore(settings.audio_dir), BlobStore(settings.blobs_dir))
    search = PeerSearch(node, node.cache)  # as the application has it: the node's search filter
    await node.start()
    while search.filters.own is None:  # noqa: ASYNC110 - its first search filter is built: the push is measured alone
        await asyncio.sleep(0.05)
    _reset_peak_rss()
    print(f"{node.node_id}@127.0.0.1:{node.transport.bound_ports()[0]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(json.dumps({"sender_peak_rss_mb": _peak_rss_mb()}), flush=True)
    await node.stop()
    await db.dispose()


async def _receive(
    url: str, data: Path, seed: str, expected: tuple[int, str], postgres: benchlib.ClusterCpu
) -> tuple[float, float]:
    """(seconds until ``count`` tracks are committed, CPU seconds PostgreSQL spent meanwhile).

    ``expected`` is (how many tracks, the hash of the last one). Rows are counted only once the last track is
    there: counting 250,000 rows several times a second would cost the database more than a little.
    """
    count, last = expected
    settings = benchlib.node_settings(data, url, P2P_SEED_PEERS=seed)
    db = Database(url, pool_size=4)
    node = P2PNode(settings, db, BlobStore(settings.audio_dir), BlobStore(settings.blobs_dir))
    PeerSearch(node, node.cache)  # as the application has it: ingest marks the search filter for a rebuild
    started = time.perf_counter()
    await node.start()
    try:
        while True:
            async with db.transaction() as session:
                arrived = await session.execute(select(Track.id).where(Track.content_hash == last))
                done = 0
                if arrived.first() is not None:
                    done = (await session.execute(select(func.count()).select_from(Track))).scalar_one()
            if done >= count:
                return time.perf_counter() - started, postgres.seconds()  # before our connections close
            if time.perf_counter() - started > max(240, count / 500):
                raise RuntimeError(f"only {done} of {count} tracks arrived in {time.perf_counter() - started:.0f} s")
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await node.stop()
        await db.dispose()


async def _last_hash(url: str) -> str:
    """The hash of the sender's newest track (its catalog's last page ends with it)."""
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            newest = select(Track.content_hash).order_by(Track.created_at.desc(), Track.id.desc()).limit(1)
            return str((await session.execute(newest)).scalar_one())
    finally:
        await db.dispose()


async def _searchable(url: str) -> int:
    """How many tracks have no search vector (0: every row can be found)."""
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            missing = await session.execute(text("SELECT count(*) FROM tracks WHERE search_vector IS NULL"))
            return int(missing.scalar_one())
    finally:
        await db.dispose()


def measure_catalog_ingest(count: int = 20_000) -> dict[str, Any]:
    """Tracks/s for a ``count``-track catalog pushed from a child process to this one, rows committed."""
    shape = benchlib.LibraryShape(tracks=count, artists=count // 50, albums=count * 2 // 25, remote_every=0)
    with benchlib.private_cluster("soundtime-catalog-bench-") as (cluster, work):
        url_a = benchlib.migrated_database(cluster, "bench_a")
        url_b = benchlib.migrated_database(cluster, "bench_b")
        asyncio.run(benchlib.populate_library(url_a, shape))
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", url_a, str(work / "a")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdin is not None
            seed = child.stdout.readline().strip()
            postgres = benchlib.ClusterCpu(cluster)
            sender_cpu, own_cpu = benchlib.process_cpu_seconds(child.pid), time.process_time()
            postgres.start()
            _reset_peak_rss()
            last = asyncio.run(_last_hash(url_a))
            seconds, postgres_cpu = asyncio.run(_receive(url_b, work / "b", seed, (count, last), postgres))
            cpu = {
                "receiver": time.process_time() - own_cpu,
                "sender": benchlib.process_cpu_seconds(child.pid) - sender_cpu,
                "postgres": postgres_cpu,
            }
            receiver_peak = _peak_rss_mb()
            child.stdin.close()
            sender_figures = json.loads(child.stdout.readline())
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if (missing := asyncio.run(_searchable(url_b))) != 0:
            raise RuntimeError(f"{missing} replicated tracks have no search vector")
    return {
        "catalog_tracks": count,
        "catalog_seconds": round(seconds, 3),
        "catalog_tracks_per_s": round(count / seconds),
        "receiver_peak_rss_mb": receiver_peak,
        **sender_figures,
        **{f"cpu_us_per_track_{party}": round(value / count * 1e6, 1) for party, value in cpu.items()},
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(_serve(sys.argv[2], Path(sys.argv[3])))
    else:
        figures = measure_catalog_ingest(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
        print(json.dumps(figures))
