"""The private PostgreSQL cluster: shared between processes, stopped by its last user, even after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil

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
