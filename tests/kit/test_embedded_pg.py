"""The private PostgreSQL cluster: shared between processes, stopped by its last user, even after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from soundtime.kit.embedded_pg import EmbeddedPostgres

START_AND_DIE = """
import os, sys
from pathlib import Path
from soundtime.kit.embedded_pg import EmbeddedPostgres
EmbeddedPostgres(Path(sys.argv[1])).start()
os._exit(0)  # dies without releasing the cluster, like kill -9
"""


def postgres_running(pgdata: Path) -> bool:
    return any(
        proc.info["name"] == "postgres" and str(pgdata) in " ".join(proc.info["cmdline"] or [])
        for proc in psutil.process_iter(["name", "cmdline"])
    )


def stop_leftovers(pgdata: Path) -> None:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(proc.info["cmdline"] or []):
            proc.kill()


def test_a_crashed_user_does_not_keep_the_cluster_running(tmp_path: Path) -> None:
    pgdata = tmp_path / "cluster"
    try:
        subprocess.run([sys.executable, "-c", START_AND_DIE, str(pgdata)], check=True, timeout=120)
        assert postgres_running(pgdata)
        assert json.loads((pgdata / ".handle_pids.json").read_text())  # the dead process is still listed

        cluster = EmbeddedPostgres(pgdata)
        cluster.start()
        cluster.stop()
        assert not postgres_running(pgdata)
    finally:
        stop_leftovers(pgdata)


async def test_a_database_copied_from_a_migrated_one_has_its_schema(pg_cluster: EmbeddedPostgres) -> None:
    pg_cluster.create_database("copy_source")
    source = create_async_engine(pg_cluster.url("copy_source"))
    async with source.begin() as conn:
        await conn.execute(text("CREATE TABLE kept (id int PRIMARY KEY)"))
        await conn.execute(text("INSERT INTO kept VALUES (7)"))
    await source.dispose()  # a template must have no connections

    pg_cluster.copy_database("copy_source", "copy_target")
    target = create_async_engine(pg_cluster.url("copy_target"))
    async with target.connect() as conn:
        assert (await conn.execute(text("SELECT id FROM kept"))).scalar_one() == 7
    await target.dispose()
    with pytest.raises(ValueError, match="unsafe"):
        pg_cluster.copy_database("copy_source", "x; DROP DATABASE copy_source")
