"""Remote playback, distributed search and the health sweep, measured on loopback.

- Remote playback: three processes. A SoundTime-like origin peer (a child process, real iroh endpoint) offers
  30 MB tracks, written in 256 KiB pieces as our own FetchTrack handler writes them; a real `soundtime serve`
  (another child) has replicated its catalog; this process streams each track once, cold (nothing cached),
  and times the first body byte and the last one. The figure is the ratio time-to-first-byte /
  time-to-whole-track (target <= 0.2), plus the same track again from the cache.
- Distributed search with 10 peers: bench/search_bench.py (p50/p95, and the local-only search as baseline).
- Health sweep of 100,000 replicated tracks: bench/health_sweep.py (target <= 10 s).

Run from the repository root:  .venv/bin/python bench/remote_bench.py [--playback-only]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import benchlib  # noqa: E402
import httpx  # noqa: E402
from blake3 import blake3  # noqa: E402

from soundtime.kit import migrations  # noqa: E402
from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402
from soundtime.p2p.transport import Stream  # noqa: E402

TRACKS = 3
TRACK_SIZE = 30 * 1024 * 1024
CHUNK = 256 * 1024


async def _origin(count: int) -> None:
    """Child process: a SoundTime-like peer offering ``count`` random 30 MB tracks until stdin closes."""
    from tests.support.soundtime_peer import FakeSoundTime, announcement

    class ChunkedOrigin(FakeSoundTime):
        """Sends a blob in 256 KiB writes, as our own FetchTrack handler does."""

        async def send_blob(self, stream: Stream, digest: str) -> None:
            data = memoryview(self.blobs.get(digest, b""))
            await stream.write(struct.pack(">I", len(data)), timeout=10)
            for start in range(0, len(data), CHUNK):
                await stream.write(bytes(data[start : start + CHUNK]), timeout=10)

    peer = await ChunkedOrigin.start()
    for index in range(count):
        data = os.urandom(TRACK_SIZE)
        digest = blake3(data).hexdigest()
        peer.blobs[digest] = data
        peer.catalog.append(announcement(peer.node_id, index, hash=digest, file_size=len(data)))
    print(peer.dial_address(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await peer.close()


def _replicated(client: httpx.Client, count: int) -> list[str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = client.get("/api/tracks", params={"limit": 100}).json()["items"]
        if len(items) >= count:
            return [item["id"] for item in items]
        time.sleep(0.1)
    raise RuntimeError("the origin's catalog did not arrive")


def _timed_stream(client: httpx.Client, track: str) -> tuple[float, float]:
    """Seconds to the first body byte and to the last, and check the size."""
    started = time.perf_counter()
    size = 0
    first = 0.0
    with client.stream("GET", f"/api/tracks/{track}/stream") as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if not size:
                first = time.perf_counter() - started
            size += len(chunk)
    total = time.perf_counter() - started
    if size != TRACK_SIZE:
        raise RuntimeError(f"received {size} bytes instead of {TRACK_SIZE}")
    return first, total


def measure_playback() -> dict[str, float]:
    """TTFB versus whole-track time for cold remote 30 MB tracks, and the same track from the cache."""
    with tempfile.TemporaryDirectory(prefix="soundtime-remote-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        cluster = EmbeddedPostgres(work / "pg", delete_on_stop=True)
        cluster.start()
        origin = subprocess.Popen(
            [sys.executable, __file__, "--origin", str(TRACKS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        server = None
        try:
            cluster.create_database("bench_remote")
            url = cluster.url("bench_remote")
            migrations.upgrade(url)
            assert origin.stdout is not None
            seed = origin.stdout.readline().decode().strip()
            server = benchlib.Server(url, work / "b", P2P_SEED_PEERS=seed, P2P_CACHE_MAX_SIZE="1GB")
            server.wait_ready()
            token = server.register()
            with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                tracks = _replicated(client, TRACKS)
                cold = [_timed_stream(client, track) for track in tracks]
                cached = [_timed_stream(client, track) for track in tracks]
        finally:
            if server is not None:
                server.stop()
            assert origin.stdin is not None
            origin.stdin.close()
            origin.wait(timeout=30)
            cluster.stop()
    ttfb = statistics.median(first for first, _ in cold)
    whole = statistics.median(total for _, total in cold)
    return {
        "remote_track_mb": TRACK_SIZE / (1 << 20),
        "remote_ttfb_ms": round(ttfb * 1000, 1),
        "remote_whole_ms": round(whole * 1000, 1),
        "remote_ttfb_vs_whole": round(ttfb / whole, 4),
        "remote_mb_per_s": round(TRACK_SIZE / (1 << 20) / whole, 1),
        "cached_whole_ms": round(statistics.median(total for _, total in cached) * 1000, 1),
    }


def main() -> None:
    figures = measure_playback()
    print("playback:", figures, flush=True)
    if "--playback-only" not in sys.argv:
        import health_sweep
        import search_bench

        figures |= asyncio.run(search_bench.measure())
        print("search:", figures, flush=True)
        figures |= asyncio.run(health_sweep.measure())
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--origin":
        asyncio.run(_origin(int(sys.argv[2])))
    else:
        main()
