"""The OpenSubsonic API on a 250,000-track library behind a real `soundtime serve`: search3, getAlbumList2, and a
whole-library sync by empty search3, against ``ping`` (authentication and rendering alone) in the same run.

Run from the repository root:  .venv/bin/python bench/subsonic_bench.py [--tracks N] [--keep DIR] [--rounds R]

- The library is bench/benchlib.py's (5,000 artists, 20,000 albums, 250,000 tracks with Zipf-distributed title
  words, one album in five replicated from peers). ``--keep DIR`` keeps the database and reuses it.
- The server runs with federation off and ``SUBSONIC_SEARCH_PEERS=false``: what is measured is this server's own
  work (a search that asks peers waits for them, up to 3 s, by design).
- Every request is signed as clients sign them (``u``, ``t`` = md5(app password + ``s``), ``s``, ``v``, ``c``,
  ``f=json``); each is preceded by a ``ping`` with the same authentication, the baseline.
- ``cpu_ms``: CPU milliseconds the server and PostgreSQL spent per request of a class (the ping before it
  taken off): far less sensitive to the machine's other load than latency.
- search3 classes: a very common word, a rare word, a prefix, several words (20 songs, 20 albums, 20 artists per
  answer, as Symfonium and DSub ask). getAlbumList2: every list type (size 50), first page and a deep one.
- Sync: ``search3`` with an empty query, 500 songs a page (no artists or albums), from offset 0 to the end, as
  Symfonium syncs a library; tracks per second and the page latencies.
- Target (issue 11): search3 and getAlbumList2 p95 <= 50 ms.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import benchlib
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

SEARCHES: dict[str, list[str]] = {
    "common_word": ["the", "love", "live", "remastered"],
    "prefix": ["lov", "rem", "nig", "dan"],
    "several_words": ["love the", "live remastered", "my heart", "the night version"],
}
#: getAlbumList2 types and their parameters (the bench account has no plays, stars or ratings: the personal
#: lists — frequent, recent, starred, highest — are empty and not measured).
LISTS: dict[str, dict[str, Any]] = {
    "newest": {},
    "alphabeticalByName": {},
    "alphabeticalByArtist": {},
    "random": {},
    "byYear": {"fromYear": 1970, "toYear": 1990},
    "byGenre": {"genre": "Jazz"},
}
DEEP_OFFSET = 10_000
REQUESTS_PER_ROUND = 20
SYNC_PAGE = 500


async def _rare_words(url: str) -> list[str]:
    """Title words found in 1 to 20 tracks."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT w FROM (SELECT DISTINCT lower(split_part(title, ' ', 1)) AS w FROM tracks "
                    "WHERE length(split_part(title, ' ', 1)) = 6 LIMIT 2000) c "
                    "WHERE (SELECT count(*) FROM tracks WHERE search_vector @@ prefix_tsquery(w)) "
                    "BETWEEN 1 AND 20 ORDER BY w LIMIT 4"
                )
            )
            return [word for (word,) in rows]
    finally:
        await engine.dispose()


class Client:
    """Signed Subsonic requests with one keep-alive connection."""

    def __init__(self, base: str, username: str, app_password: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        self.username = username
        self.app_password = app_password

    def _signed(self, params: dict[str, Any]) -> dict[str, Any]:
        salt = secrets.token_hex(6)
        token = hashlib.md5((self.app_password + salt).encode()).hexdigest()  # the Subsonic token scheme
        return {"u": self.username, "t": token, "s": salt, "v": "1.16.1", "c": "bench", "f": "json", **params}

    def timed(self, endpoint: str, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """(milliseconds, the subsonic-response) of a call that must succeed."""
        signed = self._signed(params)
        started = time.perf_counter()
        response = self.http.get(f"/rest/{endpoint}", params=signed)
        elapsed = (time.perf_counter() - started) * 1000
        body: dict[str, Any] = response.json()["subsonic-response"]
        if response.status_code != 200 or body["status"] != "ok":
            raise RuntimeError(f"{endpoint} {params}: {response.status_code} {response.text[:300]}")
        return elapsed, body


def _classes(rare: list[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    searches = {**SEARCHES, "rare_word": rare}
    sizes = {"songCount": 20, "albumCount": 20, "artistCount": 20}
    classes = {
        f"search3_{name}": [("search3", {"query": q, **sizes}) for q in texts] for name, texts in searches.items()
    }
    for kind, params in LISTS.items():
        classes[f"getAlbumList2_{kind}"] = [("getAlbumList2", {"type": kind, "size": 50, **params})]
        if kind != "random":
            deep = {"type": kind, "size": 50, "offset": DEEP_OFFSET, **params}
            classes[f"getAlbumList2_{kind}_deep"] = [("getAlbumList2", deep)]
    return classes


def _measure(
    client: Client, classes: dict[str, list[tuple[str, dict[str, Any]]]], rounds: int, cpu: benchlib.ServerCpu
) -> tuple[dict[str, list[float]], list[float], dict[str, float]]:
    """({class: timings}, ping timings, {class: server + database CPU ms per request, the ping before it taken
    off})."""
    timings: dict[str, list[float]] = {name: [] for name in classes}
    ping: list[float] = []
    cpu_ms: dict[str, float] = dict.fromkeys(classes, 0.0)
    ping_cpu = 0.0
    for _ in range(rounds):
        started_cpu = cpu.ms()
        ping.extend(client.timed("ping", {})[0] for _ in range(REQUESTS_PER_ROUND))  # its own CPU
        ping_cpu += cpu.ms() - started_cpu
        for name, requests in classes.items():
            started_cpu = cpu.ms()
            for index in range(REQUESTS_PER_ROUND):
                ping.append(client.timed("ping", {})[0])
                endpoint, params = requests[index % len(requests)]
                elapsed, body = client.timed(endpoint, params)
                if name == "search3_common_word" and len(body["searchResult3"].get("song", [])) != 20:
                    raise RuntimeError("a common-word search3 returned fewer than 20 songs")
                timings[name].append(elapsed)
            cpu_ms[name] += cpu.ms() - started_cpu
    per_ping = ping_cpu / (rounds * REQUESTS_PER_ROUND)
    per_request = {name: round(cpu_ms[name] / (rounds * REQUESTS_PER_ROUND) - per_ping, 2) for name in classes}
    return timings, ping, {"ping": round(per_ping, 2), **per_request}


def _sync(client: Client, expected: int) -> dict[str, Any]:
    """Page through the whole library with empty search3 queries."""
    pages: list[float] = []
    seen = 0
    started = time.perf_counter()
    while True:
        params = {"query": "", "songCount": SYNC_PAGE, "songOffset": seen, "artistCount": 0, "albumCount": 0}
        elapsed, body = client.timed("search3", params)
        pages.append(elapsed)
        songs = body["searchResult3"].get("song", [])
        seen += len(songs)
        if len(songs) < SYNC_PAGE:
            break
    seconds = time.perf_counter() - started
    if seen != expected:
        raise RuntimeError(f"the sync saw {seen} songs of {expected}")
    return {
        "tracks": seen,
        "seconds": round(seconds, 1),
        "tracks_per_s": round(seen / seconds),
        "page_ms": benchlib.latency(pages),
    }


def run(tracks: int, keep: Path | None, rounds: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"tracks": tracks}
    with benchlib.private_cluster("soundtime-subsonic-bench-", keep) as (cluster, work):
        url, written = benchlib.library_database(cluster, tracks, keep)
        figures |= written
        rare = asyncio.run(_rare_words(url))
        figures["rare_words"] = rare
        server = benchlib.Server(url, work / "data", P2P_ENABLED="false", SUBSONIC_SEARCH_PEERS="false")
        try:
            server.wait_ready()
            token = server.register()
            created = httpx.post(
                f"{server.base}/api/me/app-passwords",
                json={"name": "bench"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            created.raise_for_status()
            client = Client(server.base, "bench", created.json()["password"])
            try:
                classes = _classes(rare)
                cpu = benchlib.ServerCpu(server.process.pid, cluster)
                _measure(client, classes, 1, cpu)  # warm up
                timings, ping, cpu_ms = _measure(client, classes, rounds, cpu)
                figures["sync"] = _sync(client, tracks)
                figures |= server.rss_mb()
            finally:  # a kept library reused run after run keeps one app password (sign-in checks each of them)
                revoked = httpx.delete(
                    f"{server.base}/api/me/app-passwords/{created.json()['id']}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                )
                revoked.raise_for_status()
        finally:
            server.stop()
    base = benchlib.latency(ping)
    figures["ping"] = {**base, "cpu_ms": cpu_ms["ping"]}
    worst = {"search3": 0.0, "getAlbumList2": 0.0}
    for name, values in timings.items():
        summary = benchlib.latency(values)
        figures[name] = {**summary, "p95_over_ping_p50": round(summary["p95"] / base["p50"], 1), "cpu_ms": cpu_ms[name]}
        family = name.split("_")[0]
        worst[family] = max(worst[family], summary["p95"])
    figures["worst_p95_ms"] = worst
    figures["target_p95_ms"] = 50
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tracks", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder and reuse it")
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    started = time.perf_counter()
    figures = run(arguments.tracks, arguments.keep, arguments.rounds)
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    for name, value in figures.items():
        print(f"{name}: {value}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
