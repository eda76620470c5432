"""Shared fixtures: a private PostgreSQL cluster for the session, a migrated database, the app, clients, audio."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from soundtime.app import create_app
from soundtime.auth.passwords import Passwords
from soundtime.config import Settings
from soundtime.kit import migrations
from soundtime.kit.db import Database
from soundtime.kit.embedded_pg import EmbeddedPostgres
from soundtime.models import Base
from soundtime.p2p.policy import Timings
from soundtime.p2p.transport import StartTransport
from soundtime.runtime import server_config
from tests.support.audio import AudioFactory

_own_basetemp: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Give the session its own temporary root instead of one under ``/tmp/pytest-of-<user>``.

    Every pytest run tightens that shared folder to mode 0700 when it starts. Run as root, the embedded PostgreSQL
    works as its own user through folders made traversable for it, so another run starting (another worktree, a
    helper) would cut the cluster off from its files mid-session ("Permission denied" in initdb).
    """
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="soundtime-tests-")
        _own_basetemp.append(config.option.basetemp)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's temporary root when every test passed (a failed run keeps it for a look)."""
    if exitstatus == 0:
        for path in _own_basetemp:
            shutil.rmtree(path, ignore_errors=True)


#: Argon2id with small parameters so registering users does not dominate the suite (the real parameters
#: are checked by the auth tests).
FAST_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
TEST_JWT_SECRET = "test-secret-" + "x" * 40


#: The session's cluster is thrown away at the end, so it does not make its writes durable: no fsync (a commit,
#: a CREATE DATABASE and a checkpoint no longer wait for the disk). Killed PostgreSQL processes still lose
#: nothing: the writes are in the kernel's page cache, only an operating-system crash would lose them.
TEST_CLUSTER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


async def configure_cluster(url: str, settings: dict[str, str]) -> None:
    """Set server parameters of the cluster at ``url`` (ALTER SYSTEM) and make them take effect."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")  # ALTER SYSTEM runs outside transactions
    try:
        async with engine.connect() as conn:
            for name, value in settings.items():
                await conn.execute(text(f"ALTER SYSTEM SET {name} = {value}"))
            await conn.execute(text("SELECT pg_reload_conf()"))
            await conn.execute(text("SELECT pg_sleep(0.1)"))  # the postmaster signals its backends
            shown = {name: (await conn.execute(text(f"SHOW {name}"))).scalar_one() for name in settings}
    finally:
        await engine.dispose()
    assert shown == settings, shown


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A private PostgreSQL cluster for the whole session (same binaries as the zero-config server)."""
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "cluster", delete_on_stop=True)
    cluster.start()
    asyncio.run(configure_cluster(cluster.url("postgres"), TEST_CLUSTER_SETTINGS))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def make_database(pg_cluster: EmbeddedPostgres) -> Callable[[str], str]:
    """Create an empty database with the given name and return its URL."""

    def make(name: str) -> str:
        pg_cluster.create_database(name)
        return pg_cluster.url(name)

    return make


@pytest.fixture(scope="session")
def database_url(make_database: Callable[[str], str]) -> str:
    """The URL of a database migrated to the newest revision, shared by the session's tests."""
    url = make_database("soundtime_test")
    migrations.upgrade(url)
    return url


#: Tables holding at most this many rows are emptied with DELETE, else every table is truncated.
_FEW_ROWS = 1000


async def truncate_all(url: str | AsyncEngine) -> None:
    """Empty every table and restart the id sequences (between tests) of the database at ``url``, or through an
    engine that stays open.

    A test leaves a few rows in a few tables: those are deleted (children first), which takes a third of the time
    of a TRUNCATE of every table (that replaces each table's and index's files). When a table holds more than
    :data:`_FEW_ROWS` rows, every table is truncated as before.
    """
    tables = [table.name for table in Base.metadata.sorted_tables]
    probe = " UNION ALL ".join(
        f"SELECT '{name}', (SELECT count(*) FROM (SELECT FROM {name} LIMIT {_FEW_ROWS + 1}) AS r)" for name in tables
    )
    engine = create_async_engine(url) if isinstance(url, str) else url
    try:
        async with engine.begin() as conn:
            filled = {name: count for name, count in (await conn.execute(text(probe))).all() if count}
            if any(count > _FEW_ROWS for count in filled.values()):
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                return
            used = await conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL")
            )
            script = "".join(f"DELETE FROM {name};" for name in reversed(tables) if name in filled)
            script += "".join(f"ALTER SEQUENCE {name} RESTART;" for name in used.scalars())
            if script:
                raw = await conn.get_raw_connection()
                await raw.driver_connection.execute(script)  # type: ignore[union-attr]  # asyncpg: one round trip
    finally:
        if engine is not url:
            await engine.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database on the test database, emptied after the test."""
    database = Database(database_url, pool_size=2)
    try:
        yield database
    finally:
        await database.dispose()
        await truncate_all(database_url)


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a test instance: own data folder, no p2p node (federation tests turn it on), generous limits."""
    values: dict[str, object] = {
        "SOUNDTIME_DATA_DIR": data_dir,
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "P2P_ENABLED": False,
        "P2P_BIND_PORT": 0,
        "P2P_RELAY": False,
        "P2P_LOCAL_DISCOVERY": False,
        "AUTH_RATE_LIMIT_PER_MINUTE": 1000,
        "LOG_LEVEL": "warning",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings of the test instance."""
    return make_settings(tmp_path / "data", database_url)


@asynccontextmanager
async def running_app(
    settings: Settings, *, p2p_transports: StartTransport | None = None, p2p_timings: Timings | None = None
) -> AsyncIterator[FastAPI]:
    """An application with its lifespan running; its database is emptied afterwards."""
    assert settings.database_url is not None
    application = create_app(
        settings,
        settings.database_url,
        passwords=FAST_PASSWORDS,
        p2p_transports=p2p_transports,
        p2p_timings=p2p_timings,
    )
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await truncate_all(settings.database_url)


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client talking to ``app`` in process (ASGI)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application of the test instance."""
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process (ASGI)."""
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def live_server(app: FastAPI, settings: Settings) -> AsyncIterator[str]:
    """The app served by uvicorn on a loopback port (real HTTP, configured as `soundtime serve` does)."""
    config = server_config(app, settings, host="127.0.0.1", port=0)
    config.lifespan = "off"  # the app fixture runs it
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
def audio(tmp_path_factory: pytest.TempPathFactory) -> AudioFactory:
    """Generates tagged audio files (PyAV + mutagen) with an encode cache shared by the session."""
    return AudioFactory(tmp_path_factory.mktemp("audio-cache"))
