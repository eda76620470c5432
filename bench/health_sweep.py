"""The track health sweep over 100,000 replicated tracks (used by remote_bench.py; target <= 10 s).

A private PostgreSQL holds N replicated tracks from 20 peers, with their sources (a quarter have a second
source) and a health row each (the worst case: every healthy row gets its check stamped). Among them,
``degraded`` tracks (one failure) and ``dereferenced`` ones (three failures, not manual) have as only source a
peer without any address, so their recoveries really run and fail (the degraded ones are struck); ``manual``
tracks are dereferenced by an administrator and must be left alone. A started P2PNode (real iroh endpoint on
loopback) runs :meth:`HealthKeeper.sweep`; the figure is the wall time of that one sweep.

Run alone:  .venv/bin/python bench/health_sweep.py [N]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402
from sqlalchemy import text  # noqa: E402

from soundtime.blobs.store import BlobStore  # noqa: E402
from soundtime.kit import migrations  # noqa: E402
from soundtime.kit.db import Database  # noqa: E402
from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402
from soundtime.p2p.node import P2PNode  # noqa: E402

PEERS = 20
#: The peer without any address: probing it fails at once (PeerUnavailable).
_DEAD = "encode(sha256('dead peer'::bytea), 'hex')"

_POPULATE = [
    f"INSERT INTO peers (node_id, source) SELECT encode(sha256(('peer ' || g)::bytea), 'hex'), 'seed' "
    f"FROM generate_series(1, {PEERS}) g UNION ALL SELECT {_DEAD}, 'seed'",
    "INSERT INTO artists (id, name) SELECT gen_random_uuid(), 'Artist ' || g FROM generate_series(0, 499) g",
    "INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), 'Album ' || g, "
    "(SELECT id FROM artists WHERE name = 'Artist ' || (g % 500)) FROM generate_series(0, 1999) g",
    # Tracks numbered 0..N-1 (in the title); the first `troubled` ones come only from the dead peer.
    "INSERT INTO tracks (id, title, artist_id, album_id, duration_secs, format, bitrate_kbps, sample_rate, "
    "content_hash, file_size, origin_node) "
    "SELECT gen_random_uuid(), 'Track ' || g, al.artist_id, al.id, 200.5, 'flac', 900 + g % 500, 44100, "
    "encode(sha256(('track ' || g)::bytea), 'hex'), 30000000 + g, "
    f"CASE WHEN g < :troubled THEN {_DEAD} ELSE encode(sha256(('peer ' || (1 + g % {PEERS}))::bytea), 'hex') END "
    "FROM generate_series(0, :count - 1) g JOIN albums al ON al.title = 'Album ' || (g % 2000)",
    "INSERT INTO remote_track_sources (track_id, node_id, is_origin) SELECT id, origin_node, true FROM tracks",
    "INSERT INTO remote_track_sources (track_id, node_id, is_origin) "
    f"SELECT id, encode(sha256(('peer ' || (1 + (n + 7) % {PEERS}))::bytea), 'hex'), false "
    "FROM (SELECT id, substr(title, 7)::int AS n FROM tracks) t WHERE n >= :troubled AND n % 4 = 0",
    "INSERT INTO track_health (track_id, state, consecutive_failures, manually_dereferenced) "
    "SELECT id, CASE WHEN n < :degraded THEN 'degraded' WHEN n < :troubled THEN 'dereferenced' "
    "WHEN n % 10 = 0 THEN 'recovered' ELSE 'healthy' END, "
    "CASE WHEN n < :degraded THEN 1 WHEN n < :troubled THEN 3 ELSE 0 END, "
    "n >= :degraded + :dereferenced AND n < :troubled "
    "FROM (SELECT id, substr(title, 7)::int AS n FROM tracks) t",
]


async def _populate(db: Database, count: int, degraded: int, dereferenced: int, manual: int) -> None:
    values = {
        "count": count,
        "degraded": degraded,
        "dereferenced": dereferenced,
        "troubled": degraded + dereferenced + manual,
    }
    async with db.transaction() as session:
        for statement in _POPULATE:
            await session.execute(text(statement), {k: v for k, v in values.items() if f":{k}" in statement})
    async with db.transaction() as session:
        await session.execute(text("ANALYZE"))  # as autovacuum would have done on a real instance


async def measure(
    count: int = 100_000, degraded: int = 1_000, dereferenced: int = 200, manual: int = 100
) -> dict[str, float]:
    """Seconds and tracks/s of one sweep over ``count`` replicated tracks, ``degraded`` of them recovered."""
    with tempfile.TemporaryDirectory(prefix="soundtime-health-bench-") as tmp:
        work = Path(tmp)
        cluster = EmbeddedPostgres(work / "pg", delete_on_stop=True)
        await asyncio.to_thread(cluster.start)
        try:
            await asyncio.to_thread(cluster.create_database, "bench_health")
            url = cluster.url("bench_health")
            await asyncio.to_thread(migrations.upgrade, url)
            db = Database(url, pool_size=8)
            settings = benchlib.node_settings(work / "data", url)
            node = P2PNode(settings, db, BlobStore(settings.audio_dir), BlobStore(settings.blobs_dir))
            try:
                await _populate(db, count, degraded, dereferenced, manual)
                await node.start()
                keeper = node.health
                started = time.perf_counter()
                report = await keeper.sweep()
                seconds = time.perf_counter() - started
            finally:
                await node.stop()
                await db.dispose()
        finally:
            await asyncio.to_thread(cluster.stop)
    if report.checked != count or report.struck != degraded:
        raise RuntimeError(f"unexpected sweep outcome: {report.model_dump_json()}")
    return {
        "sweep_tracks": count,
        "sweep_seconds": round(seconds, 3),
        "sweep_tracks_per_s": round(count / seconds),
        "sweep_degraded_recoveries": degraded,
        "sweep_dereferenced_probed": dereferenced,
        "sweep_manual_untouched": manual,
        "sweep_struck": report.struck,
    }


if __name__ == "__main__":
    figures = asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
    print(json.dumps(figures))
