"""Search and browsing on a 250,000-track library behind a real `soundtime serve`, against /healthz.

Run from the repository root:  .venv/bin/python bench/library_scale_bench.py [--tracks N] [--keep DIR] [--rounds R]

- The library (5,000 artists, 20,000 albums, 250,000 tracks, one in five replicated from 3 peers) is written by
  SQL alone (bench/benchlib.py says how it is shaped: Zipf-distributed title words, so "the", "love", "live" and
  "remastered" are in tens of thousands of rows). ``--keep DIR`` keeps the database in DIR and reuses it on the
  next run (migrated to the newest revision first: the time this takes is printed).
- `soundtime serve` runs in a child process with federation on (as a real server does); measuring starts once
  its search filter (Bloom) is built; how long that took, and the slowest /healthz while it was built, are
  reported too.
- Each query class is requested in turn, with one /healthz request before each request (the baseline, measured
  in the same run, under the same noise), by one keep-alive client, for ``--rounds`` rounds. Search classes go
  through `GET /api/search` (tracks, albums and artists in one answer, limit 20): one very common word, a rare
  word, a prefix, several words, no match. Pages: artists, albums and "recently added" tracks (first page and
  one deep in the list, 50 items), the artist with 2,000 tracks (their page: albums and first 50 tracks; and
  pages of 50 of their tracks, the first and one 1,000 tracks in), album pages, the admin remote-tracks list.
- Figures: p50/p95 in ms per class, p95 divided by the /healthz p50, the spread of p95 across rounds, the CPU
  the server process and PostgreSQL spent per request (``cpu_ms``: the /healthz request's own CPU, measured
  alone, taken off; it depends far less on how busy the machine is than latency does), and the server's RSS:
  now, at its peak over its whole life (``peak_rss_mb``: start-up and the login included; an Argon2id password
  hash alone takes 64 MiB for a moment) and at its peak while the classes were measured
  (``peak_rss_measuring_mb``). Targets (2 cores): search p95 <= 50 ms, pages p95 <= 20 ms, RSS <= 200 MB.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchlib
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from soundtime.kit.pagination import encode_cursor

#: Query classes of `GET /api/search` (each request takes the next text of its class).
SEARCHES: dict[str, list[str]] = {
    "common_word": ["the", "love", "live", "remastered"],
    "prefix": ["lov", "rem", "th", "da"],
    "several_words": ["love the", "live remastered", "my heart", "the night version"],
    "no_match": ["zzyzx", "qqqq wwww", "love zzyzx"],
}
REQUESTS_PER_ROUND = 30
#: A class stops early in a round once it has taken this long (slow classes before a fix).
SECONDS_PER_CLASS = 15.0

Request = tuple[str, dict[str, Any]]


async def _library_facts(url: str) -> dict[str, Any]:
    """Rare words, deep cursors and ids the requests need, read from the database."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            async def one(sql: str) -> Any:
                return (await conn.execute(text(sql))).one()

            rare = [
                word
                for (word,) in await conn.execute(
                    text(
                        "SELECT w FROM (SELECT DISTINCT lower(split_part(title, ' ', 1)) AS w FROM tracks "
                        "WHERE length(split_part(title, ' ', 1)) = 6 LIMIT 2000) c "
                        "WHERE (SELECT count(*) FROM tracks WHERE search_vector @@ prefix_tsquery(w)) "
                        "BETWEEN 1 AND 20 ORDER BY w LIMIT 4"
                    )
                )
            ]
            artist_key = await one("SELECT lower(name), id FROM artists ORDER BY lower(name), id OFFSET 2500 LIMIT 1")
            album_key = await one("SELECT lower(title), id FROM albums ORDER BY lower(title), id OFFSET 10000 LIMIT 1")
            track_key = await one(
                "SELECT created_at, id FROM tracks ORDER BY created_at DESC, id DESC OFFSET 125000 LIMIT 1"
            )
            remote_key = await one(
                "SELECT id FROM tracks WHERE origin_node IS NOT NULL ORDER BY id OFFSET 25000 LIMIT 1"
            )
            big_artist = await one(
                "SELECT artist_id, count(*) FROM tracks GROUP BY artist_id ORDER BY count(*) DESC LIMIT 1"
            )
            big_artist_key = (
                await conn.execute(
                    text("SELECT lower(title), id FROM tracks WHERE artist_id = :a ORDER BY 1, 2 OFFSET 1000 LIMIT 1"),
                    {"a": big_artist[0]},
                )
            ).one()
            albums = [str(a) for (a,) in await conn.execute(text("SELECT id FROM albums ORDER BY id LIMIT 50"))]
    finally:
        await engine.dispose()
    if len(rare) < 2:
        raise RuntimeError(f"too few rare words found: {rare}")
    return {
        "rare": rare,
        "artist_cursor": encode_cursor(*artist_key),
        "album_cursor": encode_cursor(*album_key),
        "track_cursor": encode_cursor(*track_key),
        "remote_cursor": encode_cursor(remote_key[0]),
        "big_artist": str(big_artist[0]),
        "big_artist_tracks": int(big_artist[1]),
        "big_artist_cursor": encode_cursor(*big_artist_key),
        "albums": albums,
    }


def _classes(facts: dict[str, Any]) -> dict[str, list[Request]]:
    searches = {**SEARCHES, "rare_word": facts["rare"]}
    classes: dict[str, list[Request]] = {
        f"search_{name}": [("/api/search", {"q": q, "limit": 20}) for q in texts] for name, texts in searches.items()
    }
    page = {"limit": 50}
    classes |= {
        "artists_first_page": [("/api/artists", page)],
        "artists_deep_page": [("/api/artists", {**page, "cursor": facts["artist_cursor"]})],
        "albums_first_page": [("/api/albums", page)],
        "albums_deep_page": [("/api/albums", {**page, "cursor": facts["album_cursor"]})],
        "recent_tracks_first_page": [("/api/tracks", page)],
        "recent_tracks_deep_page": [("/api/tracks", {**page, "cursor": facts["track_cursor"]})],
        "artist_2000_tracks": [(f"/api/artists/{facts['big_artist']}", {})],
        "artist_tracks_first_page": [(f"/api/artists/{facts['big_artist']}/tracks", page)],
        "artist_tracks_deep_page": [
            (f"/api/artists/{facts['big_artist']}/tracks", {**page, "cursor": facts["big_artist_cursor"]})
        ],
        "album_page": [(f"/api/albums/{album}", {}) for album in facts["albums"]],
        "remote_tracks_first_page": [("/api/admin/remote-tracks", page)],
        "remote_tracks_deep_page": [("/api/admin/remote-tracks", {**page, "cursor": facts["remote_cursor"]})],
    }
    return classes


def _timed(client: httpx.Client, path: str, params: dict[str, Any], check: Callable[[Any], None] | None) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
    if check is not None:
        check(response.json())
    return elapsed


def _search_check(name: str) -> Callable[[Any], None] | None:
    def full(body: Any) -> None:
        if len(body["tracks"]) != 20:
            raise RuntimeError(f"a common-word search returned {len(body['tracks'])} tracks")

    def empty(body: Any) -> None:
        if body["tracks"] or body["albums"] or body["artists"]:
            raise RuntimeError("a no-match search returned results")

    return {"search_common_word": full, "search_prefix": full, "search_no_match": empty}.get(name)


def _measure(
    client: httpx.Client, classes: dict[str, list[Request]], rounds: int, cpu: benchlib.ServerCpu
) -> tuple[dict[str, list[float]], dict[str, list[float]], list[float], dict[str, float]]:
    """({class: timings}, {class: p95 of each round}, /healthz timings, {class: server + database CPU ms per
    request, the /healthz request before it taken off})."""
    timings: dict[str, list[float]] = {name: [] for name in classes}
    round_p95: dict[str, list[float]] = {name: [] for name in classes}
    cpu_ms: dict[str, float] = dict.fromkeys(classes, 0.0)
    health: list[float] = []
    requests_done = dict.fromkeys(classes, 0)
    health_cpu, health_done = 0.0, 0
    for _ in range(rounds):
        started_cpu = cpu.ms()
        health.extend(_timed(client, "/healthz", {}, None) for _ in range(REQUESTS_PER_ROUND))  # its own CPU
        health_cpu += cpu.ms() - started_cpu
        health_done += REQUESTS_PER_ROUND
        for name, requests in classes.items():
            check = _search_check(name)
            mine: list[float] = []
            started, started_cpu = time.monotonic(), cpu.ms()
            for index in range(REQUESTS_PER_ROUND):
                health.append(_timed(client, "/healthz", {}, None))
                path, params = requests[index % len(requests)]
                mine.append(_timed(client, path, params, check))
                if time.monotonic() - started > SECONDS_PER_CLASS:
                    break
            cpu_ms[name] += cpu.ms() - started_cpu
            requests_done[name] += len(mine)
            timings[name] += mine
            round_p95[name].append(round(benchlib.percentile(mine, 0.95), 1))
    per_health = health_cpu / health_done
    per_request = {name: round(cpu_ms[name] / requests_done[name] - per_health, 2) for name in classes}
    return timings, round_p95, health, {"healthz": round(per_health, 2), **per_request}


def _wait_for_filter(server: benchlib.Server, log: Path, within: float = 240) -> dict[str, float]:
    """Probe /healthz until the server logs its first search-filter build; (build ms, slowest probe ms)."""
    deadline = time.monotonic() + within
    slowest = 0.0
    with httpx.Client(base_url=server.base, timeout=30) as client:
        while time.monotonic() < deadline:
            slowest = max(slowest, _timed(client, "/healthz", {}, None))
            for line in log.read_text(errors="replace").splitlines():
                if '"search filter:' in line:
                    message = json.loads(line)["message"]
                    return {"bloom_build_ms": float(message.split(" in ")[-1].split()[0]), "healthz_max_ms": slowest}
            time.sleep(0.02)
    raise RuntimeError("the server did not build its search filter in time")


def run(tracks: int, keep: Path | None, rounds: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"tracks": tracks}
    with benchlib.private_cluster("soundtime-scale-bench-", keep) as (cluster, work):
        url, written = benchlib.library_database(cluster, tracks, keep)
        figures |= written
        facts = asyncio.run(_library_facts(url))
        figures["big_artist_tracks"] = facts["big_artist_tracks"]
        figures["rare_words"] = facts["rare"]
        log = work / "server.log"
        with log.open("w") as log_file:
            server = benchlib.Server(url, work / "data", stderr=log_file, LOG_LEVEL="info", LOG_FORMAT="json")
            try:
                server.wait_ready()
                figures |= _wait_for_filter(server, log)
                token = server.register()
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:
                    classes = _classes(facts)
                    cpu = benchlib.ServerCpu(server.process.pid, cluster)
                    _measure(client, {name: requests[:2] for name, requests in classes.items()}, 1, cpu)  # warm up
                    before = server.rss_mb()
                    server.reset_peak_rss()  # the peak so far: start-up and the login (Argon2id: 64 MiB a hash)
                    timings, round_p95, health, cpu_ms = _measure(client, classes, rounds, cpu)
                figures |= server.rss_mb()
                figures["peak_rss_measuring_mb"] = figures["peak_rss_mb"]
                figures["peak_rss_mb"] = max(before["peak_rss_mb"], figures["peak_rss_mb"])
            finally:
                server.stop()
    base = benchlib.latency(health)
    figures["healthz"] = {**base, "cpu_ms": cpu_ms["healthz"]}
    for name, values in timings.items():
        summary = benchlib.latency(values)
        figures[name] = {
            **summary,
            "p95_over_healthz_p50": round(summary["p95"] / base["p50"], 1),
            "p95_per_round": round_p95[name],
            "cpu_ms": cpu_ms[name],
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tracks", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder and reuse it")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    figures = run(arguments.tracks, arguments.keep, arguments.rounds)
    for name, value in figures.items():
        print(f"{name}: {value}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
