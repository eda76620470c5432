"""Schema migrations (alembic), configured in code so they run from a source tree or an installed wheel."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

import soundtime


def migrations_dir() -> Path:
    """The alembic directory: inside the installed package, or at the top of a source checkout."""
    package = Path(soundtime.__file__).resolve().parent
    for candidate in (package / "_alembic", package.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("alembic migrations not found next to the soundtime package")


def alembic_config(url: str) -> Config:
    """An alembic Config pointing at our migrations and ``url`` (an async SQLAlchemy URL)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (blocking; runs its own event loop)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` empties it)."""
    command.downgrade(alembic_config(url), revision)


def stamp(url: str, revision: str) -> None:
    """Record ``revision`` as the database's revision without running anything."""
    command.stamp(alembic_config(url), revision)


# --- helpers for migration scripts ------------------------------------------------------------------------------


def replace_indexes_concurrently(new: Sequence[tuple[str, str]], old: Sequence[tuple[str, str]]) -> None:
    """In a migration: build the ``new`` (name, definition) indexes, then drop the ``old`` ones, without blocking
    the table's writers.

    ``CREATE INDEX CONCURRENTLY`` runs outside the migration's transaction (in alembic's autocommit block) and
    only waits for transactions already using the table. A build interrupted earlier leaves an INVALID index
    behind: it is dropped and built again, so running the migration again finishes the job.
    """
    from alembic import op

    with op.get_context().autocommit_block():
        bind = op.get_bind()
        for name, definition in new:
            valid = bind.execute(_INDEX_VALID, {"name": name}).scalar()
            if valid is False:
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
        for name, _ in old:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


_INDEX_VALID = text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)")


def head_revision() -> str | None:
    """The newest revision shipped with this version of soundtime."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None for an empty database)."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()


def is_known(revision: str) -> bool:
    """Whether ``revision`` is one of the migrations shipped with this version of soundtime."""
    from alembic.util.exc import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config("")).get_revision(revision) is not None
    except CommandError:
        return False
