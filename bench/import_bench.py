"""Library benchmark: cold import, no-change re-import, and stream time-to-first-byte.

Run from the repository root with the project's environment:  .venv/bin/python bench/import_bench.py [N]

- Generates N tagged files (mixed formats, every third one with a cover) with the test-audio generator.
- Cold import: `FolderImport`, the engine of `soundtime import` (worker processes, batched saves, rows committed)
  into a fresh private PostgreSQL. Baseline in the same run: copying + BLAKE3-hashing the same files with fsync,
  one process (the floor of any content-addressed import).
- Re-import of the unchanged folder (files/s).
- TTFB: `soundtime serve` in a separate process; a keep-alive client times request → first body byte for
  Range requests on random tracks (p50/p95). Baseline: the same client against `/healthz` (a database round trip).

Targets (2 cores): cold >= 300 tracks/s, re-import >= 5,000 files/s, TTFB p50 < 10 ms.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soundtime.blobs.store import BlobStore  # noqa: E402
from soundtime.kit import migrations  # noqa: E402
from soundtime.kit.db import Database  # noqa: E402
from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402
from soundtime.library.importer import FolderImport  # noqa: E402
from tests.support.audio import EXTENSIONS, FORMATS, AudioFactory, TrackSpec, make_cover_png  # noqa: E402

TTFB_REQUESTS = 400


def generate(folder: Path, count: int) -> list[Path]:
    factory = AudioFactory(folder.parent / "cache")
    covers = [make_cover_png(seed, size=64) for seed in range(20)]
    paths = []
    for index in range(count):
        fmt = FORMATS[index % len(FORMATS)]
        spec = TrackSpec(
            title=f"Track {index}",
            artist=f"Artist {index % 97}",
            album=f"Album {index % 311}",
            track_number=index % 20 + 1,
            year=1960 + index % 60,
            genre="Rock",
            cover=covers[index % len(covers)] if index % 3 == 0 else None,
            duration=1.0 + (index % 3),
        )
        paths.append(factory.make(folder / f"{index // 100:03d}" / f"{index:05d}{EXTENSIONS[fmt]}", fmt, spec))
    return paths


def copy_hash_baseline(paths: list[Path], target: Path) -> float:
    """Files/s for read + BLAKE3 + write + fsync of every file, one process."""
    from blake3 import blake3

    target.mkdir()
    started = time.perf_counter()
    for index, path in enumerate(paths):
        data = path.read_bytes()
        blake3(data).hexdigest()
        with (target / str(index)).open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    return len(paths) / (time.perf_counter() - started)


async def import_twice(url: str, data: Path, folder: Path) -> tuple[float, float, int, float]:
    """(cold tracks/s, re-import files/s, tracks imported, cold seconds)."""
    db = Database(url, pool_size=4)
    job = FolderImport(db, BlobStore(data / "music"), BlobStore(data / "p2p" / "blobs"), max_size=1 << 30)
    try:
        cold = await job.run(folder)
        again = await job.run(folder)
    finally:
        await db.dispose()
    assert cold.imported == cold.found, cold
    assert again.unchanged == again.found, again
    return cold.imported / cold.seconds, again.found / again.seconds, cold.imported, cold.seconds


def measure_ttfb(base: str, token: str, track_ids: list[str]) -> tuple[list[float], list[float]]:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    stream, health = [], []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        for _ in range(20):  # warm up the connection and the server
            client.get("/healthz")
        for _ in range(TTFB_REQUESTS):
            track = rng.choice(track_ids)
            started = time.perf_counter()
            with client.stream("GET", f"/api/tracks/{track}/stream", headers={"Range": "bytes=1000-"}) as response:
                next(response.iter_raw())
                stream.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 206
            started = time.perf_counter()
            with client.stream("GET", "/healthz") as response:
                next(response.iter_raw())
                health.append((time.perf_counter() - started) * 1000)
    return stream, health


def serve_and_measure(url: str, data: Path) -> tuple[list[float], list[float]]:
    server = benchlib.Server(url, data)
    try:
        server.wait_ready()
        token = server.register()
        with httpx.Client(base_url=server.base, timeout=10) as client:
            headers = {"Authorization": f"Bearer {token}"}
            ids, cursor = [], None
            while len(ids) < 500:
                params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/tracks", params=params, headers=headers).json()
                ids += [t["id"] for t in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        return measure_ttfb(server.base, token, ids)
    finally:
        server.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with tempfile.TemporaryDirectory(prefix="soundtime-bench-") as tmp:
        work = Path(tmp)
        folder = work / "Music"
        started = time.perf_counter()
        paths = generate(folder, count)
        print(f"generated {count} files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        baseline = copy_hash_baseline(paths, work / "baseline")

        cluster = EmbeddedPostgres(work / "pg", delete_on_stop=True)
        url = cluster.start()
        try:
            migrations.upgrade(url)
            data = work / "data"
            data.mkdir()
            cold, reimport, imported, cold_seconds = asyncio.run(import_twice(url, data, folder))
            cold_mb = sum(p.stat().st_size for p in paths) / 1e6 / cold_seconds
            print(f"cold import {cold:.0f} tracks/s, re-import {reimport:.0f} files/s", file=sys.stderr)
            stream, health = serve_and_measure(url, data)
        finally:
            cluster.stop()

    figures = {
        "files": imported,
        "cold_tracks_per_s": round(cold, 1),
        "cold_mb_per_s": round(cold_mb, 1),
        "baseline_copy_hash_fsync_files_per_s": round(baseline, 1),
        "cold_vs_copy_baseline": round(cold / baseline, 2),
        "reimport_files_per_s": round(reimport, 1),
        "ttfb_p50_ms": round(statistics.median(stream), 2),
        "ttfb_p95_ms": round(benchlib.percentile(stream, 0.95), 2),
        "healthz_p50_ms": round(statistics.median(health), 2),
        "ttfb_vs_healthz_p50": round(statistics.median(stream) / statistics.median(health), 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
