"""Process-level set-up shared by CLI commands: which database to use, and keeping its schema current."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from soundtime.config import Settings
from soundtime.kit.embedded_pg import EmbeddedPostgres

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from soundtime.kit.http_protocol import ConnectionLimits


class SchemaOutOfDate(RuntimeError):
    """The database schema is not at the revision this version of soundtime needs."""


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The database URL: ``DATABASE_URL``, or a private cluster in the data directory while the block runs."""
    if settings.database_url:
        yield settings.database_url
        return
    with EmbeddedPostgres(settings.embedded_database_dir) as embedded:
        yield embedded.url(embedded.database)


def ensure_schema(url: str, *, migrate: bool) -> None:
    """Migrate to the newest revision, or (``migrate=False``) check that the database is already there."""
    from soundtime.kit import migrations  # alembic: imported by the commands that use a database, not by --help

    if migrate:
        migrations.upgrade(url)
        return
    current = asyncio.run(migrations.current_revision(url))
    head = migrations.head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current or '(empty)'} but this soundtime needs {head}: "
            "run `soundtime migrate`"
        )


def server_config(
    app: FastAPI, settings: Settings, *, host: str, port: int, limits: ConnectionLimits | None = None
) -> uvicorn.Config:
    """How uvicorn serves the app: h11 with our connection limits (deadlines for request heads, exact head size,
    per-address caps, idle connections making room; httptools would buffer heads of any size), proxy headers
    only from ``FORWARDED_ALLOW_IPS``, our logging."""
    import uvicorn

    from soundtime.kit.http_protocol import ConnectionLimits, protocol_class

    limits = limits or ConnectionLimits(trusted_proxies=settings.forwarded_allow_ips)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        loop="uvloop",
        http=protocol_class(limits),
        h11_max_incomplete_event_size=limits.max_head,
        # Idle connections make room for new ones; beyond this, requests get 503 (the server is really busy).
        limit_concurrency=limits.max_connections + 1,
        timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=10,
        server_header=False,
    )
