"""Distributed search benchmark: ``GET /api/p2p/search`` fanned out to 10 peers over real iroh endpoints on loopback.

Run from the repository root with the project's environment:  .venv/bin/python bench/search_bench.py

- A child process runs 10 lightweight SoundTime-like responders, each on its own iroh endpoint: Ping → Pong, then
  (as SoundTime does after contact) a BloomExchange sent back on its own connection; PeerExchange → its id;
  SearchQuery → a few results (some hashes offered by several peers, so deduplication has work to do).
- This process runs a complete instance (embedded PostgreSQL, app, node) whose library holds a few thousand
  tracks; the responders are its seed peers. Each search goes through HTTP (in-process ASGI) with a signed-in
  user: Bloom routing to all 10 peers, the fan-out, validation, re-ranking on our database, merge.
- The baseline is the same search with ``include_p2p`` off (``GET /api/search``), in the same run.

The last line printed is one JSON object with the figures. :func:`measure` is importable by other benches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from blake3 import blake3  # noqa: E402
from sqlalchemy import text  # noqa: E402

from soundtime.app import create_app  # noqa: E402
from soundtime.auth.passwords import Passwords  # noqa: E402
from soundtime.config import Settings  # noqa: E402
from soundtime.kit import migrations  # noqa: E402
from soundtime.kit.db import Database  # noqa: E402
from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402
from soundtime.kit.ratelimit import RateLimiter  # noqa: E402
from soundtime.p2p import wire  # noqa: E402
from soundtime.p2p.transport import IrohTransport, PeerAddress, PeerConnection, Stream  # noqa: E402
from soundtime.search.bloom import BloomFilter  # noqa: E402

QUERY = "queen rock"
VOCABULARY = ["queen", "rock", "anthem", "live", "opera", "night", "radio", "gaga", "killer"]

_POPULATE = """
WITH artists AS (
    INSERT INTO artists (id, name) SELECT gen_random_uuid(), 'Artist ' || g FROM generate_series(0, 199) g
    RETURNING id, name
)
INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_path, file_size)
SELECT gen_random_uuid(),
       CASE WHEN g % 50 = 0 THEN 'Queen Rock Local ' || g ELSE 'Track ' || g END,
       (SELECT id FROM artists WHERE name = 'Artist ' || (g % 200)), 180, 'flac',
       encode(sha256(('local ' || g)::bytea), 'hex'), 'x/' || g, 30000000
FROM generate_series(0, :count - 1) g
"""


# --- the responders (child process) ------------------------------------------------------------------------------


def _results(index: int, request: wire.SearchQuery, count: int, node_id: str) -> wire.SearchResults:
    items = []
    for n in range(min(count, request.limit)):
        shared = n < 2  # the first hashes are offered by every peer
        key = f"shared {n}" if shared else f"peer {index} track {n}"
        items.append(
            wire.SearchResultItem(
                hash=blake3(key.encode()).hexdigest(),
                title=f"Queen Rock Anthem {key}",
                artist_name=f"Band {index}",
                album_title="Live at the Opera" if n % 2 else None,
                duration_secs=240.5,
                format="flac",
                genre="Rock",
                year=1977,
                bitrate=1411,
                source_node=node_id,
                musicbrainz_id=None,
                relevance=0.5,
            )
        )
    return wire.SearchResults(request_id=request.request_id, results=items, total=len(items))


async def _responder(index: int, results_per_peer: int) -> IrohTransport:
    bloom = BloomFilter.of_terms(set(VOCABULARY)).to_wire()
    transport: IrohTransport

    async def send_bloom(conn: PeerConnection) -> None:
        out = await transport.connect(PeerAddress(conn.node_id, tuple(conn.remote_addresses())), timeout=10)
        stream = await out.open_stream(timeout=10)
        await stream.write(wire.encode_frame(wire.BloomExchange(bloom=bloom)), timeout=10)
        await stream.finish(ack_timeout=10)

    async def on_stream(conn: PeerConnection, stream: Stream) -> None:
        message = wire.decode(await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=10))
        reply: wire.Message | None = None
        if isinstance(message, wire.Ping):
            reply = wire.Pong(node_id=transport.node_id, track_count=100, version="0.1.57")
            asyncio.get_running_loop().create_task(send_bloom(conn))
        elif isinstance(message, wire.PeerExchange):
            reply = wire.PeerExchange(peers=[transport.node_id])
        elif isinstance(message, wire.SearchQuery):
            reply = _results(index, message, results_per_peer, transport.node_id)
        if reply is not None:
            await stream.write(wire.encode_frame(reply), timeout=10)

    async def admit(_: str) -> bool:
        return True

    transport = await IrohTransport.start(
        secret_key=os.urandom(32), port=0, relay=False, on_stream=on_stream, admit=admit
    )
    return transport


async def serve(peers: int, results_per_peer: int) -> None:
    """Child process: run the responders until stdin closes; print their dial addresses first."""
    transports = [await _responder(i, results_per_peer) for i in range(peers)]
    print(json.dumps([f"{t.node_id}@127.0.0.1:{t.bound_ports()[0]}" for t in transports]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for transport in transports:
        await transport.close()


# --- the searching instance (this process) -----------------------------------------------------------------------


async def _percentiles(run: Callable[[], Awaitable[None]], count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        await run()
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


def _p(timings: list[float], q: float) -> float:
    return timings[min(len(timings) - 1, round(q * (len(timings) - 1)))]


async def _wait(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {within} s")
        await asyncio.sleep(0.05)


async def _search_figures(url: str, data: Path, seeds: list[str], searches: int) -> dict[str, float]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        SOUNDTIME_DATA_DIR=data,
        DATABASE_URL=url,
        JWT_SECRET="bench-secret-" + "x" * 40,
        P2P_BIND_PORT=0,
        P2P_RELAY=False,
        P2P_LOCAL_DISCOVERY=False,
        P2P_SEED_PEERS=",".join(seeds),
        LOG_LEVEL="warning",
    )
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    app = create_app(settings, url, passwords=passwords)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        peer_search = app.state.context.peer_search
        peer_search.fanout.limiter = RateLimiter(1_000_000, 60.0)  # the per-user limit would stop the bench
        response = await client.post("/api/auth/register", json={"username": "bench", "password": "bench password 1"})
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        await _wait(lambda: len(peer_search.filters.received) == len(seeds), 60, "peer filters")

        async def distributed() -> None:
            reply = await client.get("/api/p2p/search", params={"q": QUERY, "limit": 20}, headers=headers)
            body = reply.json()
            if body["peers_answered"] != len(seeds) or not body["results"]:
                raise RuntimeError(f"unexpected answer: {str(body)[:300]}")

        async def local() -> None:
            reply = await client.get("/api/search", params={"q": QUERY, "limit": 20}, headers=headers)
            if reply.status_code != 200:
                raise RuntimeError(reply.text)

        await _percentiles(distributed, 10)  # warm up connections and caches
        await _percentiles(local, 10)
        remote = await _percentiles(distributed, searches)
        baseline = await _percentiles(local, searches)
    p50, base = statistics.median(remote), statistics.median(baseline)
    return {
        "search_p50_ms": round(p50, 2),
        "search_p95_ms": round(_p(remote, 0.95), 2),
        "search_local_p50_ms": round(base, 2),
        "search_p2p_over_local": round(p50 / base, 2),
    }


async def measure(
    *, peers: int = 10, searches: int = 200, results_per_peer: int = 5, local_tracks: int = 5000
) -> dict[str, float]:
    """Latency of a search fanned out to ``peers`` responders in another process, and the local-only baseline."""
    with tempfile.TemporaryDirectory(prefix="soundtime-search-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        cluster = EmbeddedPostgres(work / "pg", delete_on_stop=True)
        await asyncio.to_thread(cluster.start)
        child = None
        try:
            await asyncio.to_thread(cluster.create_database, "bench_search")
            url = cluster.url("bench_search")
            await asyncio.to_thread(migrations.upgrade, url)
            db = Database(url, pool_size=1)
            async with db.transaction() as session:
                await session.execute(text(_POPULATE), {"count": local_tracks})
            async with db.transaction() as session:
                await session.execute(text("ANALYZE"))
            await db.dispose()
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                str(SCRIPT),
                "--serve",
                str(peers),
                str(results_per_peer),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert child.stdout is not None
            seeds = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
            figures = await _search_figures(url, work / "data", seeds, searches)
        finally:
            if child is not None:
                assert child.stdin is not None
                child.stdin.close()
                await asyncio.wait_for(child.wait(), 30)
            await asyncio.to_thread(cluster.stop)
    return {"search_peers": float(peers), "search_results_per_peer": float(results_per_peer), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=2, type=int, metavar=("PEERS", "RESULTS"), help=argparse.SUPPRESS)
    parser.add_argument("--searches", type=int, default=200)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(*args.serve))
        return
    figures: dict[str, Any] = asyncio.run(measure(searches=args.searches))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
