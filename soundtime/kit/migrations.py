"""Schema migrations (alembic), configured in code so they run from a source tree or an installed wheel."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
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
