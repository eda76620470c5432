"""What the benchmarks share: a private PostgreSQL, node settings, a real `soundtime serve` child, latency
percentiles, and a large library written by SQL alone.

Import it from a bench script (``bench/`` is on ``sys.path`` when a script in it runs).

The library (:func:`populate_library`) is shaped so that search has real work to do:

- a vocabulary of ``vocabulary`` words (default 20,000): the first ranks are real words common in music titles
  ("the", "love", "live", "remastered", "you", …, see :data:`COMMON_WORDS`), the others made-up words of three
  syllables ("bakire", "tosuno", …: unique, none starting with "th");
- every title draws its words from that vocabulary with Zipf-distributed ranks (s ≈ 1: the word of rank r is drawn
  with probability ln((r+1)/r) / ln(V+1); rank 1 ≈ 7 %, rank 2 ≈ 4 %, rank 4 ≈ 2.3 %); track titles have 1-5
  words (2.6 on average), album titles 1-4 (2.5), artist names one or two such words plus a unique made-up
  word, one in five starting with "The". At 250,000 tracks "the" is in about 20 % of track titles (and, through
  artist and album names, in more of their search documents), "love" in ~12 %, "live" ~8 %, "remastered" ~6 %;
  words of rank ≥ 15,000 are in a handful of titles each;
- ``albums`` albums of ~``tracks / albums`` tracks (an album's tracks are consecutive, as imports add them),
  each by one artist; the first artist is the album artist of enough albums to perform ``big_artist_tracks``
  tracks; one track in 20 is performed by another artist ("featuring");
- tracks are added in groups of 13 sharing one ``created_at`` (ties in "recently added"); the tracks of one
  album in ``remote_every`` are replicated from one of ``peers`` peers (with their source rows), the others
  are ours.

Rows are written with set-based INSERT … SELECT over ``generate_series`` (the search-vector trigger and foreign
keys are off while they are written, the vector computed by the same expression), then checked against the
trigger on a sample, vacuumed and analysed: 250,000 tracks take about a minute.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from soundtime.config import Settings  # noqa: E402
from soundtime.kit import migrations  # noqa: E402
from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402

JWT_SECRET = "bench-secret-" + "x" * 40
BENCH_PASSWORD = "bench password 1"


# --- figures ---------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def latency(values_ms: Sequence[float]) -> dict[str, float]:
    """{p50, p95, n} of timings in milliseconds."""
    return {
        "p50": round(percentile(values_ms, 0.5), 2),
        "p95": round(percentile(values_ms, 0.95), 2),
        "n": len(values_ms),
    }


# --- a private PostgreSQL ----------------------------------------------------------------------------------------


@contextmanager
def private_cluster(prefix: str, keep: Path | None = None) -> Iterator[tuple[EmbeddedPostgres, Path]]:
    """(a running private cluster, a work folder) for the block: temporary, or kept in ``keep`` to be reused."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        keep.chmod(0o755)
        cluster = EmbeddedPostgres(keep / "pg")
        cluster.start()
        try:
            yield cluster, keep
        finally:
            cluster.stop()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # the embedded server may run as another user (root)
        cluster = EmbeddedPostgres(work / "pg", delete_on_stop=True)
        cluster.start()
        try:
            yield cluster, work
        finally:
            cluster.stop()


def migrated_database(cluster: EmbeddedPostgres, name: str) -> str:
    """The URL of database ``name`` on ``cluster``, created if needed and migrated to head."""
    cluster.create_database(name)
    url = cluster.url(name)
    migrations.upgrade(url)
    return url


def node_settings(data: Path, url: str, **values: Any) -> Settings:
    """Settings of a node on loopback only (no relays, no LAN discovery), quiet logs."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        SOUNDTIME_DATA_DIR=data,
        DATABASE_URL=url,
        JWT_SECRET=JWT_SECRET,
        P2P_BIND_PORT=0,
        P2P_RELAY=False,
        P2P_LOCAL_DISCOVERY=False,
        LOG_LEVEL="warning",
        **values,
    )


class ClusterCpu:
    """CPU seconds spent by the processes of one PostgreSQL cluster (postmaster, backends, workers) since
    :meth:`start`; read it before the connections that did the work close (an exited backend is not counted)."""

    def __init__(self, cluster: EmbeddedPostgres) -> None:
        self.postmaster = psutil.Process(int((cluster.pgdata / "postmaster.pid").read_text().split()[0]))
        self._before: dict[int, float] = {}

    def _now(self) -> dict[int, float]:
        seconds = {}
        for process in [self.postmaster, *self.postmaster.children()]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds[process.pid] = times.user + times.system
        return seconds

    def start(self) -> None:
        self._before = self._now()

    def seconds(self) -> float:
        return sum(value - self._before.get(pid, 0.0) for pid, value in self._now().items())


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


class ServerCpu:
    """CPU milliseconds a server process and its database cluster spent since this was made, as a running total."""

    def __init__(self, pid: int, cluster: EmbeddedPostgres) -> None:
        self.pid, self.postgres = pid, ClusterCpu(cluster)
        self.postgres.start()

    def ms(self) -> float:
        return (process_cpu_seconds(self.pid) + self.postgres.seconds()) * 1000


# --- a real server ---------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `soundtime serve --no-migrate` child process on 127.0.0.1 (stopped by :meth:`stop`)."""

    def __init__(self, url: str, data: Path, *, stderr: IO[str] | None = None, **env: str) -> None:
        data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        environment = {
            **os.environ,
            "DATABASE_URL": url,
            "SOUNDTIME_DATA_DIR": str(data),
            "SOUNDTIME_PORT": str(port),
            "JWT_SECRET": JWT_SECRET,
            "LOG_LEVEL": "warning",
            "P2P_BIND_PORT": "0",
            "P2P_RELAY": "false",
            "P2P_LOCAL_DISCOVERY": "false",
            **env,
        }
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "soundtime", "serve", "--no-migrate"], env=environment, cwd=data, stderr=stderr
        )

    def wait_ready(self, within: float = 60) -> None:
        """Return once ``/healthz`` answers 200."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {within} s")

    def register(self, username: str = "bench") -> str:
        """An access token of the account ``username`` (the first one is the administrator), created unless a
        kept database already has it."""
        credentials = {"username": username, "password": BENCH_PASSWORD}
        reply = httpx.post(f"{self.base}/api/auth/register", json=credentials, timeout=30)
        if reply.status_code in (403, 409):  # registration closed or name taken: the account exists
            reply = httpx.post(f"{self.base}/api/auth/login", json=credentials, timeout=30)
        reply.raise_for_status()
        token: str = reply.json()["access_token"]
        return token

    def rss_mb(self) -> dict[str, float]:
        """The server's resident memory now and at its peak (VmHWM), in MB (10^6 bytes)."""
        process = psutil.Process(self.process.pid)
        peak = 0
        with open(f"/proc/{self.process.pid}/status") as status:  # Linux: the high-water mark
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        return {"rss_mb": round(process.memory_info().rss / 1e6, 1), "peak_rss_mb": round(peak / 1e6, 1)}

    def reset_peak_rss(self) -> None:
        """Start the server's high-water mark (VmHWM) from its current RSS (Linux: "5" to clear_refs)."""
        with open(f"/proc/{self.process.pid}/clear_refs", "w") as refs:
            refs.write("5")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- a large library -------------------------------------------------------------------------------------------

#: The most frequent words, by rank (1 = most frequent); the rest of the vocabulary is made up.
COMMON_WORDS = (
    *("the", "love", "live", "remastered", "you", "me", "my", "of", "night", "in", "heart", "version", "remix"),
    *("baby", "time", "a", "on", "your", "dance", "world", "edit", "feat", "mix", "day", "life", "for", "home"),
    *("fire", "light", "dream", "blue", "song", "rain", "girl", "road", "one", "all", "black", "gold", "summer"),
)


@dataclass(frozen=True)
class LibraryShape:
    """How many rows :func:`populate_library` writes (see the module docstring for how they look)."""

    tracks: int = 250_000
    artists: int = 5_000
    albums: int = 20_000
    vocabulary: int = 20_000
    big_artist_tracks: int = 2_000
    #: One track in ``remote_every`` is replicated from a peer (0: all are ours).
    remote_every: int = 5
    peers: int = 3


_FUNCTIONS = [
    # A unit-interval number from a key (deterministic), a Zipf rank, a made-up word, a phrase of vocabulary words.
    "CREATE FUNCTION pg_temp.unit(k bigint) RETURNS float8 LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT (hashint8(k) & 2147483647)::float8 / 2147483648.0 $$",
    "CREATE FUNCTION pg_temp.zipf(k bigint, v int) RETURNS int LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT least(v, floor(power(v + 1, pg_temp.unit(k))))::int $$",
    "CREATE FUNCTION pg_temp.syl(n int) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT substr('bdfgklmnprstvz', n / 5 % 14 + 1, 1) || substr('aeiou', n % 5 + 1, 1) $$",
    "CREATE FUNCTION pg_temp.made_up(n int) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT pg_temp.syl(n % 70) || pg_temp.syl(n / 70 % 70) || pg_temp.syl(n / 4900 % 70) $$",
    "CREATE TEMP TABLE bench_vocab (rank int PRIMARY KEY, word text NOT NULL)",
    "INSERT INTO bench_vocab SELECT r, coalesce((CAST(:common AS text[]))[r], pg_temp.made_up(r)) "
    "FROM generate_series(1, :vocabulary) r",
    "CREATE FUNCTION pg_temp.phrase(k bigint, n int, v int) RETURNS text LANGUAGE sql STABLE AS "
    "$$ SELECT string_agg(w.word, ' ' ORDER BY i) FROM generate_series(1, n) i "
    "JOIN bench_vocab w ON w.rank = pg_temp.zipf(k * 16 + i, v) $$",
]

_ROWS = [
    "SET LOCAL session_replication_role = replica",  # no triggers, no foreign-key checks: the rows are consistent
    "INSERT INTO peers (node_id, source, track_count) "
    "SELECT encode(sha256(('bench peer ' || k)::bytea), 'hex'), 'seed', 0 FROM generate_series(0, :peers - 1) k",
    # artists: one or two vocabulary words and a unique made-up word; one in five starts with "The"
    "CREATE TEMP TABLE bench_artists AS SELECT i, gen_random_uuid() AS id, "
    "CASE WHEN i % 5 = 0 THEN 'The ' ELSE '' END || initcap(pg_temp.phrase(1000000 + i, 1 + i % 2, :vocabulary)) "
    "|| ' ' || initcap(pg_temp.made_up(100000 + i)) AS name FROM generate_series(0, :artists - 1) i",
    "INSERT INTO artists (id, name, created_at) SELECT id, name, timestamptz '2020-01-01' FROM bench_artists",
    # albums: the first ones belong to artist 0 (the big artist); a repeated title of one artist gets a number
    "CREATE TEMP TABLE bench_albums AS SELECT j, gen_random_uuid() AS id, artist, "
    "title || CASE WHEN n > 1 THEN ' ' || n ELSE '' END AS title FROM ("
    "  SELECT j, artist, title, row_number() OVER (PARTITION BY artist, title ORDER BY j) AS n FROM ("
    "    SELECT j, CASE WHEN j < :big_albums THEN 0 ELSE 1 + (j::bigint * 7919) % (:artists - 1) END AS artist, "
    "    initcap(pg_temp.phrase(2000000 + j, 1 + (hashint8(2000000 + j) & 2147483647) % 4, :vocabulary)) AS title "
    "    FROM generate_series(0, :albums - 1) j) raw) numbered",
    "INSERT INTO albums (id, title, artist_id, year, genre, created_at) "
    "SELECT al.id, al.title, ar.id, 1960 + al.j % 64, (ARRAY['Rock', 'Pop', 'Jazz', 'Electronic'])[1 + al.j % 4], "
    "timestamptz '2020-01-01' FROM bench_albums al JOIN bench_artists ar ON ar.i = al.artist",
    # track g is on album g * albums div tracks (an album's tracks are consecutive, as an import adds them); the
    # tracks of one album in ``remote_every`` come from a peer
    "INSERT INTO tracks (id, title, artist_id, album_id, track_number, disc_number, year, genre, duration_secs, "
    "format, bitrate_kbps, sample_rate, channels, content_hash, file_path, file_size, origin_node, search_vector, "
    "created_at, updated_at) "
    "SELECT gen_random_uuid(), t.title, ar.id, al.id, t.g - (al.j::bigint * :tracks + :albums - 1) / :albums + 1, 1, "
    "1960 + al.j % 64, NULL, 120 + t.g % 300 + 0.5, (ARRAY['flac', 'mp3', 'ogg', 'opus', 'm4a'])[1 + t.g % 5], "
    "320, 44100, 2, encode(sha256(('bench track ' || t.g)::bytea), 'hex'), "
    "CASE WHEN NOT al.remote THEN 'bench/' || t.g END, 5000000 + t.g, "
    "CASE WHEN al.remote THEN encode(sha256(('bench peer ' || al.j / :remote_every % :peers)::bytea), 'hex') END, "
    "setweight(search_document(t.title), 'A') || setweight(search_document(ar.name), 'B') "
    "|| setweight(search_document(al.title), 'C'), "
    "timestamptz '2024-01-01' + (t.g / 13) * interval '1 minute', "
    "timestamptz '2024-01-01' + (t.g / 13) * interval '1 minute' "
    "FROM (SELECT g, initcap(pg_temp.phrase(10000000 + g, "
    "       (ARRAY[1, 1, 2, 2, 2, 3, 3, 3, 4, 5])[1 + (hashint8(10000000 + g) & 2147483647) % 10], "
    "       :vocabulary)) AS title "
    "      FROM generate_series(0, :tracks - 1) g) t "
    "JOIN (SELECT *, :remote_every > 0 AND j % :remote_every = :remote_every - 1 AS remote FROM bench_albums) al "
    "ON al.j = t.g::bigint * :albums / :tracks "
    "JOIN bench_artists ar ON ar.i = CASE WHEN t.g % 20 = 7 THEN (t.g::bigint * 31) % :artists ELSE al.artist END",
    # (a replicated track's origin is its source without a row: see migration 0009)
    "UPDATE peers p SET track_count = (SELECT count(*) FROM tracks t WHERE t.origin_node = p.node_id)",
]

# The written vectors must be what the trigger computes: touch a sample's titles (the trigger runs) and compare.
_CHECK = (
    "WITH sample AS (SELECT id, search_vector FROM tracks ORDER BY id LIMIT 200) "
    "UPDATE tracks t SET title = t.title FROM sample s WHERE t.id = s.id "
    "RETURNING t.search_vector = s.search_vector"
)


async def populate_library(url: str, shape: LibraryShape = LibraryShape()) -> dict[str, float]:
    """Write the library into an empty, migrated database; returns {seconds, rows per table}."""
    values: dict[str, Any] = {
        **asdict(shape),
        "common": list(COMMON_WORDS),
        "big_albums": -(-shape.big_artist_tracks * shape.albums // shape.tracks),
    }
    started = time.perf_counter()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in _FUNCTIONS + _ROWS:
                await conn.execute(text(statement), {k: v for k, v in values.items() if f":{k}" in statement})
        async with engine.begin() as conn:
            same = [row[0] for row in await conn.execute(text(_CHECK))]
            if not all(same):
                raise RuntimeError("the written search vectors differ from what the trigger computes")
        await vacuum_analyze(url)
        async with engine.connect() as conn:
            counts = {
                table: float((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
                for table in ("artists", "albums", "tracks", "remote_track_sources")
            }
    finally:
        await engine.dispose()
    return {"populate_seconds": round(time.perf_counter() - started, 1), **counts}


async def vacuum_analyze(url: str) -> None:
    """VACUUM ANALYZE the database, as autovacuum does on a real instance after bulk writes (it marks pages
    all-visible, so index-only scans skip the table). Also run on a kept library: a migration that rewrites a
    table (e.g. adds a stored column) leaves it unmarked until then."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


def library_database(cluster: EmbeddedPostgres, tracks: int, keep: Path | None) -> tuple[str, dict[str, float]]:
    """(URL, figures) of the database ``bench_library`` on ``cluster``, migrated and holding a library of ``tracks``
    tracks of the usual shape: written now, or kept from an earlier run (``keep``), then vacuumed."""
    cluster.create_database("bench_library")
    url = cluster.url("bench_library")
    started = time.perf_counter()
    migrations.upgrade(url)
    figures = {"migrate_seconds": round(time.perf_counter() - started, 2)}
    present = asyncio.run(library_size(url))
    if present == 0:
        shape = LibraryShape(tracks=tracks, artists=tracks // 50, albums=tracks * 2 // 25)
        return url, figures | asyncio.run(populate_library(url, shape))
    if present != tracks:
        raise SystemExit(f"{keep} holds a library of {present} tracks, not {tracks}: remove it or pass --tracks")
    asyncio.run(vacuum_analyze(url))
    return url, figures


async def library_size(url: str) -> int:
    """How many tracks the database holds (a kept bench folder may already hold a library)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found = (await conn.execute(text("SELECT count(*) FROM tracks"))).scalar_one()
    finally:
        await engine.dispose()
    return int(found)
