"""What one unit of work costs in Python: :meth:`Database.transaction` against raw asyncpg, in the same run.

Run from the repository root with the project's environment:  .venv/bin/python bench/db_transaction_bench.py

Each transaction runs one statement (``SELECT 1``, or a primary-key read of a ``peers`` row through the ORM) on a
private PostgreSQL over its Unix socket, one at a time. The figures are this process's CPU microseconds per
transaction (``time.process_time``: the server's work is not counted) and the wall microseconds, the median of
``--rounds`` rounds of ``--count`` transactions; the kinds take turns round by round, so a change of the machine's
load touches them alike. The baseline is raw asyncpg from its own pool: a transaction (BEGIN, the statement,
COMMIT) on a pooled connection; ``session_select`` is SQLAlchemy's own idiom (``async with sessionmaker() as
session``, commit), for comparison. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
from benchlib import migrated_database, private_cluster  # noqa: E402
from sqlalchemy import text  # noqa: E402

from soundtime.kit.db import Database, on_commit  # noqa: E402
from soundtime.models import Peer  # noqa: E402

PEER = "ab" * 32
_SELECT_1 = text("SELECT 1")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _measure(kinds: dict[str, Callable[[], Awaitable[None]]], count: int, rounds: int) -> dict[str, dict]:
    cpu: dict[str, list[float]] = {name: [] for name in kinds}
    wall: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(rounds):
        for name, one in kinds.items():
            started_cpu, started = time.process_time(), time.perf_counter()
            for _ in range(count):
                await one()
            cpu[name].append((time.process_time() - started_cpu) / count * 1e6)
            wall[name].append((time.perf_counter() - started) / count * 1e6)
    return {
        name: {"cpu_us": round(statistics.median(cpu[name]), 1), "wall_us": round(statistics.median(wall[name]), 1)}
        for name in kinds
    }


async def _run(url: str, count: int, rounds: int) -> dict[str, object]:
    db = Database(url, pool_size=5)
    pool = await asyncpg.create_pool(_asyncpg_dsn(url), min_size=1, max_size=5)
    assert pool is not None
    async with db.transaction() as session:
        session.add(Peer(node_id=PEER, source="manual"))

    async def raw_select() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval("SELECT 1")

    async def raw_get() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchrow("SELECT * FROM peers WHERE node_id = $1", PEER)

    async def db_select() -> None:
        async with db.transaction() as session:
            await session.execute(_SELECT_1)

    async def session_select() -> None:  # SQLAlchemy's own idiom: what Database.transaction did before
        async with db.sessionmaker() as session:
            await session.execute(_SELECT_1)
            await session.commit()

    async def db_get() -> None:
        async with db.transaction() as session:
            await session.get(Peer, PEER)
            on_commit(session, lambda: None)

    kinds = {
        "asyncpg_select": raw_select,
        "db_select": db_select,
        "session_select": session_select,
        "asyncpg_get": raw_get,
        "db_get": db_get,
    }
    await _measure(kinds, max(count // 10, 1), 1)  # warm up: connections, prepared statements, compiled SQL
    figures = await _measure(kinds, count, rounds)
    await pool.close()
    await db.dispose()
    overhead = {
        "select_cpu_us": round(figures["db_select"]["cpu_us"] - figures["asyncpg_select"]["cpu_us"], 1),
        "get_cpu_us": round(figures["db_get"]["cpu_us"] - figures["asyncpg_get"]["cpu_us"], 1),
    }
    return {"per_transaction": figures, "overhead_over_asyncpg": overhead, "count": count, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="transactions per round and kind")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with private_cluster("db-tx-bench-") as (cluster, _):
        url = migrated_database(cluster, "bench")
        result = asyncio.run(_run(url, args.count, args.rounds))
    result["load"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
