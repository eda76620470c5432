"""Load: 200 concurrent listeners streaming local and remote tracks while a 20,000-track catalogue syncs.

Run from the repository root:  .venv/bin/python bench/load_bench.py [--listeners 200] [--seconds 20]

Four parties on loopback, each in its own process, one private PostgreSQL cluster:

- the server: a real `soundtime serve` (federation on) with ``LOCAL`` tracks of its own (generated audio, mixed
  formats, imported as `soundtime import` does);
- an origin: a soundtime node (bench/catalog_sync.py ``--serve``) with ``REMOTE`` tracks of its own; the server
  adds it as a peer and replicates its catalogue, so half of what listeners play is fetched from it over iroh
  (verified, then cached: the first plays are cold fetches);
- two catalogue senders, each a soundtime node holding 20,000 tracks of its own (shaped as in bench/benchlib.py,
  distinct content hashes); the server adds one as a peer and ingests its catalogue (rows committed, searchable).

Phases, in one run:

1. **sync alone**: the first sender's catalogue is ingested with no listeners (the baseline sync rate);
2. **listeners alone**: ``--listeners`` clients each play tracks back to back for ``--seconds``, as a player
   does: a GET of the stream, the whole body read (its BLAKE3 checked against the track's content hash), then the
   track "played" for its duration (3-8 s) before the next one, local or remote at random (200 listeners ask
   for ~35 streams a second);
3. **listeners + sync**: the same listeners while the second sender's catalogue is ingested (the phase lasts
   until the sync is done and at least ``--seconds``).

Figures: listeners, streams and errors per phase (non-200, wrong bytes, timeouts or broken connections; target 0;
a play whose keep-alive connection the server closed as the request went out is sent again once, as a browser
does, and counted apart as ``retried_on_a_closed_connection``),
time to first body byte (TTFB) p50/p95 per phase and for local and remote tracks, the sync rate alone and under
load (tracks/s until all 20,000 rows are committed in the server's database) and their ratio, and the CPU the
server, PostgreSQL and this client process spent per phase (the client's 200 listeners share the same 2 cores:
its CPU share says how much of the machine the load itself took). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
import httpx
import psutil
from blake3 import blake3
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.kit.embedded_pg import EmbeddedPostgres
from soundtime.library.importer import FolderImport
from tests.support.audio import EXTENSIONS, FORMATS, AudioFactory, TrackSpec

CATALOGUE = 20_000
LOCAL = 40
REMOTE = 40
#: Seconds a listener keeps an idle connection (below the server's keep-alive of 5 s).
CLIENT_KEEP_ALIVE = 4.0
#: Listeners start within this many seconds of each other.
START_SPREAD = 3.0
SENDER = str(Path(__file__).with_name("catalog_sync.py"))


# --- set-up ------------------------------------------------------------------------------------------------------


def _generate(folder: Path, count: int, label: str) -> None:
    """``count`` tagged files of mixed formats (3-8 s of tone) in ``folder``."""
    factory = AudioFactory(folder.parent / "cache")
    for index in range(count):
        fmt = FORMATS[index % len(FORMATS)]
        spec = TrackSpec(
            title=f"{label} track {index}",
            artist=f"{label} artist {index % 5}",
            album=f"{label} album {index % 8}",
            track_number=index % 12 + 1,
            duration=3.0 + index % 6,
        )
        factory.make(folder / f"{index:03d}{EXTENSIONS[fmt]}", fmt, spec)


async def _import(url: str, data: Path, folder: Path) -> int:
    db = Database(url, pool_size=2)
    try:
        job = FolderImport(db, BlobStore(data / "music"), BlobStore(data / "p2p" / "blobs"), max_size=1 << 30)
        report = await job.run(folder)
    finally:
        await db.dispose()
    if report.imported != report.found:
        raise RuntimeError(f"import of {folder}: {report}")
    return report.imported


async def _distinct_hashes(url: str, salt: str) -> None:
    """Give a populated catalogue content hashes no other bench library has (the rows are otherwise the same)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE tracks SET content_hash = encode(sha256((:salt || content_hash)::bytea), 'hex')"),
                {"salt": salt},
            )
    finally:
        await engine.dispose()


class Node:
    """A soundtime node in a child process (bench/catalog_sync.py --serve), serving its database's tracks."""

    def __init__(self, url: str, data: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, SENDER, "--serve", url, str(data)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        if "@" not in self.address:
            raise RuntimeError(f"the node did not start: {self.address!r}")
        self.node_id = self.address.split("@")[0]

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the sync ----------------------------------------------------------------------------------------------------


async def _count_from(engine: AsyncEngine, node_id: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT count(*) FROM tracks WHERE origin_node = :n"), {"n": node_id})
        return int(found.scalar_one())


async def _sync(client: httpx.AsyncClient, engine: AsyncEngine, node: Node, count: int) -> float:
    """Add ``node`` as a peer of the server; tracks/s until its ``count`` tracks are committed there."""
    started = time.perf_counter()
    reply = await client.post("/api/admin/p2p/peers", json={"node_id": node.address})
    if reply.status_code != 201 or not reply.json()["reachable"]:
        raise RuntimeError(f"adding the peer failed: {reply.status_code} {reply.text[:300]}")
    while (done := await _count_from(engine, node.node_id)) < count:
        if time.perf_counter() - started > 120:
            raise RuntimeError(f"only {done} of {count} tracks arrived in 120 s")
        await asyncio.sleep(0.1)
    return count / (time.perf_counter() - started)


# --- listeners ---------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the listeners saw during one phase."""

    ttfb_ms: dict[str, list[float]] = field(default_factory=lambda: {"local": [], "remote": []})
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    bytes: int = 0
    #: Plays whose connection ended before any answer and were sent again on a new one.
    retried: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {detail[:200]}")

    def figures(self, seconds: float) -> dict[str, Any]:
        every = self.ttfb_ms["local"] + self.ttfb_ms["remote"]
        streams = len(every) + sum(self.errors.values())
        return {
            "seconds": round(seconds, 1),
            "streams": streams,
            "streams_per_s": round(streams / seconds, 1),
            "mb_per_s": round(self.bytes / 1e6 / seconds, 1),
            "errors": sum(self.errors.values()),
            "errors_by_kind": self.errors,
            "retried_on_a_closed_connection": self.retried,
            "error_examples": self.examples,
            "ttfb_ms": benchlib.latency(every) if every else None,
            "ttfb_local_ms": benchlib.latency(self.ttfb_ms["local"]) if self.ttfb_ms["local"] else None,
            "ttfb_remote_ms": benchlib.latency(self.ttfb_ms["remote"]) if self.ttfb_ms["remote"] else None,
        }


@dataclass(frozen=True)
class Playable:
    id: str
    content_hash: str
    kind: str  # "local" or "remote"
    seconds: float


async def _play(client: httpx.AsyncClient, track: Playable, tally: Tally) -> None:
    """One play: the whole body read and checked. A connection that ends before any answer (a keep-alive
    connection the server closed as the request went out) is retried once on a new one, as browsers do for a GET;
    the retries are counted, and the time to first byte includes them."""
    started = time.perf_counter()
    first = 0.0
    digest, size = blake3(), 0
    for attempt in (1, 2):
        answered = False
        try:
            async with client.stream("GET", f"/api/tracks/{track.id}/stream") as response:
                answered = True
                if response.status_code != 200:
                    await response.aread()
                    tally.error(f"status {response.status_code}", response.text)
                    return
                async for chunk in response.aiter_bytes():
                    if not first:
                        first = time.perf_counter() - started
                    digest.update(chunk)
                    size += len(chunk)
        except (httpx.RemoteProtocolError, httpx.ReadError) as error:
            if attempt == 1 and not answered:
                tally.retried += 1
                continue
            tally.error(type(error).__name__, f"{track.kind} {track.id}: {error!r}")
            return
        except httpx.HTTPError as error:
            tally.error(type(error).__name__, f"{track.kind} {track.id}: {error!r}")
            return
        break
    if digest.hexdigest() != track.content_hash:
        tally.error("wrong bytes", f"{track.kind} {track.id}: {size} bytes")
        return
    tally.bytes += size
    tally.ttfb_ms[track.kind].append(first * 1000)


async def _listener(client: httpx.AsyncClient, tracks: list[Playable], seed: int, phase: list[Tally]) -> None:
    """Play random tracks until cancelled; each play is counted in the phase current when it started."""
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, START_SPREAD))  # listeners do not all start at the same instant
    while True:
        track = rng.choice(tracks)
        started = time.monotonic()
        await _play(client, track, phase[0])
        await asyncio.sleep(max(0.0, track.seconds - (time.monotonic() - started)))  # it plays


async def _playable(client: httpx.AsyncClient, local: int, remote: int) -> list[Playable]:
    """The server's tracks once the origin's catalogue has arrived (``remote`` of them replicated)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = (await client.get("/api/tracks", params={"limit": 200})).json()["items"]
        tracks = [
            Playable(t["id"], t["content_hash"], "local" if t["is_local"] else "remote", t["duration_secs"])
            for t in items
        ]
        if sum(t.kind == "remote" for t in tracks) >= remote and sum(t.kind == "local" for t in tracks) >= local:
            return tracks
        await asyncio.sleep(0.2)
    raise RuntimeError("the origin's catalogue did not arrive")


class Cpu:
    """CPU seconds of the server, PostgreSQL (every process of the cluster: the senders' backends too) and this
    process between :meth:`mark` calls."""

    def __init__(self, server: benchlib.Server, cluster: EmbeddedPostgres) -> None:
        self.server = server
        self.postmaster = psutil.Process(int((cluster.pgdata / "postmaster.pid").read_text().split()[0]))
        self._last, self._postgres = self._now(), self._cluster()

    def _cluster(self) -> dict[int, float]:
        seconds = {}
        for process in [self.postmaster, *self.postmaster.children()]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
        return seconds

    def _now(self) -> dict[str, float]:
        return {
            "server": benchlib.process_cpu_seconds(self.server.process.pid),
            "client": time.process_time(),
            "wall": time.perf_counter(),
        }

    def mark(self) -> dict[str, float]:
        """Each party's share of one core since the last mark (1.0 = one core busy the whole time; a backend
        that exited meanwhile is not counted)."""
        now, postgres = self._now(), self._cluster()
        wall = now["wall"] - self._last["wall"]
        used = {k: now[k] - self._last[k] for k in ("server", "client")}
        used["postgres"] = sum(value - self._postgres.get(pid, 0.0) for pid, value in postgres.items())
        self._last, self._postgres = now, postgres
        return {f"cpu_{k}_cores": round(v / wall, 2) for k, v in used.items()}


# --- the run -----------------------------------------------------------------------------------------------------


async def _phases(
    server: benchlib.Server,
    url: str,
    nodes: dict[str, Node],
    cpu: Cpu,
    *,
    listeners: int,
    seconds: float,
    catalogue: int,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"listeners": listeners, "catalogue_tracks": catalogue}
    token = server.register()
    # A client must give up an idle connection before the server does (5 s, kit/http_protocol.py): a request sent on
    # a connection the server is closing at that moment fails ("disconnected without a response"). Browsers retry
    # such a request; these listeners do not, so they let their connections go after 4 s (httpx's default is 5 s).
    limits = httpx.Limits(
        max_connections=listeners + 10, max_keepalive_connections=listeners + 10, keepalive_expiry=CLIENT_KEEP_ALIVE
    )
    headers = {"Authorization": f"Bearer {token}"}
    engine = create_async_engine(url, pool_size=2)
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60, limits=limits) as client:
        try:
            reply = await client.post("/api/admin/p2p/peers", json={"node_id": nodes["origin"].address})
            reply.raise_for_status()
            tracks = await _playable(client, LOCAL, REMOTE)

            cpu.mark()
            figures["sync_alone_tracks_per_s"] = round(await _sync(client, engine, nodes["alone"], catalogue))
            figures["sync_alone"] = cpu.mark()
            nodes["alone"].stop()

            phase = [Tally()]
            tasks = [asyncio.create_task(_listener(client, tracks, seed, phase)) for seed in range(listeners)]
            try:
                await asyncio.sleep(START_SPREAD + 2)  # every listener has started
                phase[0], started = Tally(), time.perf_counter()
                cpu.mark()
                await asyncio.sleep(seconds)
                figures["listeners_alone"] = {**phase[0].figures(time.perf_counter() - started), **cpu.mark()}

                phase[0], started = Tally(), time.perf_counter()
                rate = await _sync(client, engine, nodes["loaded"], catalogue)
                synced = time.perf_counter() - started
                await asyncio.sleep(max(0.0, seconds - synced))
                figures["listeners_and_sync"] = {
                    **phase[0].figures(time.perf_counter() - started),
                    "sync_seconds": round(synced, 1),
                    **cpu.mark(),
                }
                figures["sync_under_load_tracks_per_s"] = round(rate)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await engine.dispose()
    figures["sync_under_load_vs_alone"] = round(
        figures["sync_under_load_tracks_per_s"] / figures["sync_alone_tracks_per_s"], 2
    )
    figures["errors"] = figures["listeners_alone"]["errors"] + figures["listeners_and_sync"]["errors"]
    return figures


def run(listeners: int, seconds: float, catalogue: int) -> dict[str, Any]:
    started = time.perf_counter()
    shape = benchlib.LibraryShape(tracks=catalogue, artists=catalogue // 50, albums=catalogue * 2 // 25, remote_every=0)
    with benchlib.private_cluster("soundtime-load-bench-") as (cluster, work):
        names = ("server", "origin", "alone", "loaded")
        urls = {name: benchlib.migrated_database(cluster, f"load_{name}") for name in names}
        asyncio.run(benchlib.populate_library(urls["alone"], shape))
        asyncio.run(benchlib.populate_library(urls["loaded"], shape))
        asyncio.run(_distinct_hashes(urls["loaded"], "second catalogue "))
        for name, count in (("server", LOCAL), ("origin", REMOTE)):
            _generate(work / f"music-{name}", count, name)
            asyncio.run(_import(urls[name], work / name, work / f"music-{name}"))
        setup_seconds = time.perf_counter() - started
        nodes: dict[str, Node] = {}
        server = None
        try:
            for name in ("origin", "alone", "loaded"):
                nodes[name] = Node(urls[name], work / name)
            server = benchlib.Server(urls["server"], work / "server", DATABASE_POOL_SIZE="10")
            server.wait_ready()
            cpu = Cpu(server, cluster)
            figures = asyncio.run(
                _phases(server, urls["server"], nodes, cpu, listeners=listeners, seconds=seconds, catalogue=catalogue)
            )
            figures |= server.rss_mb()
        finally:
            if server is not None:
                server.stop()
            for node in nodes.values():
                node.stop()
    total = time.perf_counter() - started
    return {**figures, "setup_seconds": round(setup_seconds, 1), "total_seconds": round(total, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--catalogue", type=int, default=CATALOGUE, help="tracks of each syncing catalogue")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each listening phase (at least)")
    arguments = parser.parse_args()
    figures = run(arguments.listeners, arguments.seconds, arguments.catalogue)
    for name, value in figures.items():
        print(f"{name}: {value}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
