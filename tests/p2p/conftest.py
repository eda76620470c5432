"""Federation fixtures: several instances in one process, each with its own database and data folder — whole ones
(app, HTTP client, lifespan: :func:`start_instance`) or nodes without the web application (:func:`start_node`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from soundtime.app import create_app, running_context
from soundtime.config import Settings
from soundtime.context import AppContext
from soundtime.kit import migrations
from soundtime.kit.db import Database
from soundtime.kit.embedded_pg import EmbeddedPostgres
from soundtime.p2p.node import P2PNode
from soundtime.p2p.policy import Limits, Timings
from soundtime.p2p.transport import MemoryNetwork
from soundtime.search.peers import PeerSearch
from tests.conftest import FAST_PASSWORDS, asgi_client, make_settings, running_app, truncate_all
from tests.support.api import bearer, register

INSTANCE_NAMES = ("a", "b", "c", "d")


@dataclass
class Node:
    """A running instance without its web application: its context (database, stores) and federation node."""

    name: str
    settings: Settings
    context: AppContext

    @property
    def node(self) -> P2PNode:
        assert self.context.p2p is not None
        return self.context.p2p

    @property
    def search(self) -> PeerSearch:
        """The instance's distributed search (plugged into its node)."""
        assert self.context.peer_search is not None
        return self.context.peer_search

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def dial_address(self) -> str:
        """``id@127.0.0.1:port`` of this node (what another test instance is given as a seed)."""
        return f"{self.node_id}@{self.node.transport.local_address().direct_addresses[0]}"


@dataclass
class Instance(Node):
    """A running instance with its app, an HTTP client and the administrator's token."""

    app: FastAPI
    client: httpx.AsyncClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@pytest.fixture(scope="session")
def instance_databases(pg_cluster: EmbeddedPostgres, make_database: Callable[[str], str]) -> dict[str, str]:
    """One migrated database per instance name, shared by the session (emptied after each use): the first is
    migrated, the others are copies of it (copying takes a fraction of the migrations' time)."""
    first, *others = (f"soundtime_p2p_{name}" for name in INSTANCE_NAMES)
    migrations.upgrade(make_database(first))
    for name in others:
        pg_cluster.copy_database(first, name)
    return {name: pg_cluster.url(f"soundtime_p2p_{name}") for name in INSTANCE_NAMES}


StartInstance = Callable[..., Any]


@pytest.fixture
async def start_instance(instance_databases: dict[str, str], tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start_instance("a", **settings)`` starts an instance; all are stopped (and emptied) at the end.

    The data folder is per name, so starting a name again after :func:`stop` is a restart with the same identity.
    ``timings=`` replaces its node's default timings. Protocol scenarios on the in-memory network use
    :func:`start_node` instead: no web application.
    """
    stack = AsyncExitStack()
    running: dict[str, AsyncExitStack] = {}

    async def start(
        name: str,
        *,
        keep_data: bool = False,
        timings: Timings | None = None,
        **overrides: Any,
    ) -> Instance:
        settings = make_settings(tmp_path / name, instance_databases[name], **{"P2P_ENABLED": True, **overrides})
        inner = AsyncExitStack()
        app = await inner.enter_async_context(_app(settings, keep_data=keep_data, timings=timings))
        client = await inner.enter_async_context(asgi_client(app))
        running[name] = inner
        token = await _admin_token(client)
        return Instance(name, settings, app.state.context, app, client, token)

    start.stop = lambda name: _stop(running, name)  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for inner in reversed(list(running.values())):
            await inner.aclose()
        await stack.aclose()


async def _stop(running: dict[str, AsyncExitStack], name: str) -> None:
    await running.pop(name).aclose()


@asynccontextmanager
async def _app(settings: Settings, *, keep_data: bool, timings: Timings | None) -> AsyncIterator[FastAPI]:
    if keep_data:
        assert settings.database_url is not None
        application = create_app(settings, settings.database_url, passwords=FAST_PASSWORDS, p2p_timings=timings)
        async with application.router.lifespan_context(application):
            yield application
    else:
        async with running_app(settings, p2p_timings=timings) as application:
            yield application


@pytest.fixture
def network() -> MemoryNetwork:
    """An in-memory network for the nodes and fake peers of one test (``start_node(..., network=network)``)."""
    return MemoryNetwork()


@pytest.fixture(scope="session")
async def node_databases(instance_databases: dict[str, str]) -> AsyncIterator[dict[str, Database]]:
    """One open database (engine and pool) per instance name, shared by every node-level test of the session: a
    node started again on it reuses its connections and its compiled statements."""
    databases = {name: Database(url, pool_size=5) for name, url in instance_databases.items()}
    for db in databases.values():
        _writes.watch(db.engine)
    yield databases
    for db in databases.values():
        await db.dispose()


StartNode = Callable[..., Any]


@pytest.fixture
async def start_node(
    node_databases: dict[str, Database], instance_databases: dict[str, str], tmp_path: Path
) -> AsyncIterator[StartNode]:
    """``await start_node("a", network=network, **settings)``: an instance without its web application on the
    in-memory network (its context and federation node, no FastAPI, no HTTP): protocol scenarios drive the node
    and the services directly. Each name runs on its own database, whose rows are deleted at the end.
    ``timings=`` and ``limits=`` replace the node's defaults.
    """
    stack = AsyncExitStack()
    used: list[str] = []

    async def start(
        name: str,
        *,
        network: MemoryNetwork,
        timings: Timings | None = None,
        limits: Limits | None = None,
        **overrides: Any,
    ) -> Node:
        settings = _node_settings(tmp_path / name, instance_databases[name], overrides)
        used.append(name)
        context = await stack.enter_async_context(
            running_context(
                settings,
                node_databases[name],
                passwords=FAST_PASSWORDS,
                p2p_transports=network.start,
                p2p_timings=timings,
                p2p_limits=limits,
            )
        )
        return Node(name, settings, context)

    try:
        yield start
    finally:
        try:
            await stack.aclose()
        finally:  # the databases are emptied at once (each reset is mostly PostgreSQL's work)
            await asyncio.gather(*(truncate_all(node_databases[name].engine) for name in dict.fromkeys(used)))


_SETTINGS: dict[tuple[str, str], Settings] = {}


def _node_settings(data_dir: Path, url: str, overrides: dict[str, Any]) -> Settings:
    """A node's settings: those of ``make_settings``, validated once per database and overrides (~1.5 ms each
    time), then given this node's data folder (every path is derived from it: nothing validated depends on it)."""
    key = (url, repr(sorted(overrides.items())))
    settings = _SETTINGS.get(key)
    if settings is None:
        settings = make_settings(Path("/nonexistent"), url, **{"P2P_ENABLED": True, **overrides})
        _SETTINGS[key] = settings
    return settings.model_copy(update={"data_dir": data_dir})


async def _admin_token(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/auth/login", json={"username": "admin", "password": "correct horse battery"})
    if response.status_code == 200:
        token: str = response.json()["access_token"]
        return token
    return await register(client, "admin")


class _Writes:
    """Wakes the waits of :func:`eventually` when a transaction that wrote rows on a node's database has ended
    (its connection is back in the pool): what a check reads may have changed. Checks that only read wake nobody;
    whole instances' databases are not watched (their waits poll)."""

    _WROTE = "tests.p2p.wrote"

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def watch(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "after_cursor_execute", self._executed)
        event.listen(engine.sync_engine.pool, "checkin", self._checked_in)

    def _executed(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:6].upper() != "SELECT":  # INSERT, UPDATE, DELETE, WITH … INSERT
            conn.info[self._WROTE] = True

    def _checked_in(self, _dbapi: Any, record: ConnectionPoolEntry) -> None:
        if record.info.pop(self._WROTE, False):
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait(self, at_most: float) -> None:
        """Until the next write has ended, or ``at_most`` seconds."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, at_most)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


_writes = _Writes()


async def eventually(check: Callable[[], Any], *, within: float = 20.0, interval: float = 0.05) -> Any:
    """Check an async ``check`` until it returns a truthy value (or fail after ``within`` seconds).

    Checked again as soon as a transaction that wrote rows on a node's database (:func:`start_node`) has ended,
    and otherwise after a pause: the first pauses are short (5 ms, then half as long again each time, up to
    ``interval``), so a condition met at once is seen at once, and a long wait does not spend the event loop on
    checks.
    """
    deadline = asyncio.get_running_loop().time() + within
    pause = min(0.005, interval)
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s (last value {value!r})")
        await _writes.wait(pause)
        pause = min(pause * 1.5, interval)
