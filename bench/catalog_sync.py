"""Catalog ingest, end to end between two processes on loopback (used by p2p_bench.py).

Process A (a child) is a soundtime node whose database holds N tracks of its own. Process B (this one) starts
its node with A as its seed peer: B pings A, A pushes its catalog as CatalogSync pages of 500 over iroh, B
validates and commits the rows (artists, albums, tracks, sources). The figure is N divided by the time from
B's start until all N tracks are committed in B's database.

Run alone:  .venv/bin/python bench/catalog_sync.py [N]
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from soundtime.blobs.store import BlobStore  # noqa: E402
from soundtime.config import Settings  # noqa: E402
from soundtime.kit import migrations  # noqa: E402
from soundtime.kit.db import Database  # noqa: E402
from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402
from soundtime.models import Track  # noqa: E402
from soundtime.p2p.node import P2PNode  # noqa: E402

_POPULATE = """
WITH artists AS (
    INSERT INTO artists (id, name) SELECT gen_random_uuid(), 'Artist ' || g FROM generate_series(0, 499) g
    RETURNING id, name
), albums AS (
    INSERT INTO albums (id, title, artist_id)
    SELECT gen_random_uuid(), 'Album ' || g, (SELECT id FROM artists WHERE name = 'Artist ' || (g % 500))
    FROM generate_series(0, 1999) g
    RETURNING id, title, artist_id
)
INSERT INTO tracks (id, title, artist_id, album_id, track_number, year, genre, duration_secs, format,
                    bitrate_kbps, sample_rate, content_hash, file_path, file_size, created_at)
SELECT gen_random_uuid(), 'Track ' || g, al.artist_id, al.id, g % 20 + 1, 1960 + g % 60, 'Rock',
       120 + g % 300 + 0.25, 'flac', 900 + g % 500, 44100,
       encode(sha256(('track ' || g)::bytea), 'hex'), 'x/' || g, 30000000 + g,
       now() - make_interval(secs => :count - g)
FROM generate_series(0, :count - 1) g JOIN albums al ON al.title = 'Album ' || (g % 2000)
"""


def _settings(data: Path, url: str, **values: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        SOUNDTIME_DATA_DIR=data,
        DATABASE_URL=url,
        P2P_BIND_PORT=0,
        P2P_RELAY=False,
        P2P_LOCAL_DISCOVERY=False,
        LOG_LEVEL="warning",
        **values,
    )


async def _serve(url: str, data: Path) -> None:
    """Child process: run node A until stdin closes; print its dial address first."""
    settings = _settings(data, url)
    db = Database(url, pool_size=4)
    node = P2PNode(settings, db, BlobStore(settings.audio_dir), BlobStore(settings.blobs_dir))
    await node.start()
    print(f"{node.node_id}@127.0.0.1:{node.transport.bound_ports()[0]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await node.stop()
    await db.dispose()


async def _populate(url: str, count: int) -> None:
    db = Database(url, pool_size=1)
    async with db.transaction() as session:
        await session.execute(text(_POPULATE), {"count": count})
    async with db.transaction() as session:
        await session.execute(text("ANALYZE"))  # as autovacuum would have done on a real instance
    await db.dispose()


async def _receive(url: str, data: Path, seed: str, count: int) -> float:
    settings = _settings(data, url, P2P_SEED_PEERS=seed)
    db = Database(url, pool_size=4)
    node = P2PNode(settings, db, BlobStore(settings.audio_dir), BlobStore(settings.blobs_dir))
    started = time.perf_counter()
    await node.start()
    try:
        while True:
            async with db.transaction() as session:
                done = (await session.execute(select(func.count()).select_from(Track))).scalar_one()
            if done >= count:
                return time.perf_counter() - started
            if time.perf_counter() - started > 240:
                raise RuntimeError(f"only {done} of {count} tracks arrived in 240 s")
            await asyncio.sleep(0.02)
    finally:
        await node.stop()
        await db.dispose()


def measure_catalog_ingest(count: int = 20_000) -> dict[str, float]:
    """Tracks/s for a ``count``-track catalog pushed from a child process to this one, rows committed."""
    with tempfile.TemporaryDirectory(prefix="soundtime-catalog-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        cluster = EmbeddedPostgres(work / "pg", delete_on_stop=True)
        cluster.start()
        try:
            urls = {}
            for name in ("a", "b"):
                cluster.create_database(f"bench_{name}")
                urls[name] = cluster.url(f"bench_{name}")
                migrations.upgrade(urls[name])
            asyncio.run(_populate(urls["a"], count))
            child = subprocess.Popen(
                [sys.executable, __file__, "--serve", urls["a"], str(work / "a")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert child.stdout is not None
                seed = child.stdout.readline().strip()
                seconds = asyncio.run(_receive(urls["b"], work / "b", seed, count))
            finally:
                assert child.stdin is not None
                child.stdin.close()
                child.wait(timeout=30)
        finally:
            cluster.stop()
    return {
        "catalog_tracks": count,
        "catalog_seconds": round(seconds, 3),
        "catalog_tracks_per_s": round(count / seconds),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(_serve(sys.argv[2], Path(sys.argv[3])))
    else:
        figures = measure_catalog_ingest(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
        print(json.dumps(figures))
