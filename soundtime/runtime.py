"""Process-level set-up shared by CLI commands: which database to use, and keeping its schema current."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from soundtime.config import Settings
from soundtime.kit import migrations
from soundtime.kit.embedded_pg import EmbeddedPostgres


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
