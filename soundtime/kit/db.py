"""The async database engine, session factory and the one place a unit of work is committed."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

log = logging.getLogger(__name__)
_ON_COMMIT = "soundtime.on_commit"
_ON_ROLLBACK = "soundtime.on_rollback"


def on_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction commits (e.g. finally remove a blob whose row was deleted)."""
    session.info.setdefault(_ON_COMMIT, []).append(callback)


def on_rollback(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` if the transaction is rolled back (e.g. put a staged blob removal back)."""
    session.info.setdefault(_ON_ROLLBACK, []).append(callback)


#: asyncpg errors that mean the server is gone, restarting or full, not that a statement was wrong.
_ASYNCPG_UNAVAILABLE = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)


#: The exception classes among which :func:`is_unavailable` picks the database's unavailability.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, *_ASYNCPG_UNAVAILABLE)


def _raised_by_driver(traceback: TracebackType | None) -> bool:
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("asyncpg", "sqlalchemy")):
            return True
        traceback = traceback.tb_next
    return False


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached now (down, restarting, full, pool exhausted).

    Such errors are the server's condition, not the request's fault: they deserve a 503, not a 500. A socket
    error counts only when the database driver raised it (a full disk elsewhere is not the database).
    """
    if isinstance(error, sa_exc.DBAPIError):
        return (
            error.connection_invalidated
            or isinstance(error.orig, _ASYNCPG_UNAVAILABLE)
            or (isinstance(error.orig, OSError) and _raised_by_driver(error.__traceback__))
        )
    if isinstance(error, (sa_exc.TimeoutError, *_ASYNCPG_UNAVAILABLE)):
        return True
    return isinstance(error, (ConnectionError, TimeoutError, FileNotFoundError)) and _raised_by_driver(
        error.__traceback__
    )


def _run_callbacks(session: AsyncSession, key: str) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(key, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("a %s callback failed", key)


def _remember_return(_: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


#: A pooled connection idle for longer than this is checked before it is used again (the check costs three round
#: trips: SQLAlchemy's asyncpg ping runs BEGIN, ``;``, ROLLBACK). One returned more recently has just worked and is
#: used as it is: on a busy server most are, and a transaction costs three round trips less. Should the database
#: restart within this time, the first statement on a stale connection fails (503) and the pool is renewed.
PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED_AT = "soundtime.returned_at"


class Database:
    """Owns the engine and hands out sessions; services never commit, :meth:`transaction` does."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_use_lifo=True,  # the most recently used connection first: the others idle (and get checked)
            echo=echo,
            connect_args={"server_settings": {"application_name": "soundtime"}},
        )
        event.listen(self.engine.sync_engine.pool, "checkin", _remember_return)
        event.listen(self.engine.sync_engine.pool, "checkout", self._check_if_idle)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    def _check_if_idle(self, dbapi_connection: Any, record: ConnectionPoolEntry, _: PoolProxiedConnection) -> None:
        """Ping a connection that idled for over :data:`PING_AFTER_IDLE_SECONDS`; a dead one is replaced (and the
        pool renewed, as SQLAlchemy's own pre-ping does)."""
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned <= PING_AFTER_IDLE_SECONDS:
            return  # new, or used a moment ago
        dialect = self.engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise sa_exc.InvalidatePoolError() from error
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed if the block succeeds and rolled back if it raises.

        Callbacks registered with :func:`on_commit` / :func:`on_rollback` run after the outcome is known.
        """
        session = self.sessionmaker()
        try:
            yield session
            await session.commit()
        except BaseException:
            async with session:  # closed on the way out, even if this task is cancelled meanwhile
                session.info.pop(_ON_COMMIT, None)
                await session.rollback()
                _run_callbacks(session, _ON_ROLLBACK)
            raise
        try:
            session.info.pop(_ON_ROLLBACK, None)
            _run_callbacks(session, _ON_COMMIT)
        finally:
            # Its connection went back to the pool at the commit (and callbacks cannot do I/O): closing only
            # detaches its objects, so it is done here, not by AsyncSession.close, whose task (shielded from
            # cancellation) and greenlet cost about a tenth of a short transaction.
            session.sync_session.close()

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
