"""The FastAPI application factory and its lifespan (opens the database and stores, closes them)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

import soundtime
from soundtime.admin.router import router as admin_router
from soundtime.admin.users.router import router as users_router
from soundtime.auth.passwords import Passwords
from soundtime.auth.router import router as auth_router
from soundtime.auth.throttle import LoginThrottle
from soundtime.auth.tokens import TokenService
from soundtime.blobs.store import BlobStore
from soundtime.config import Settings, resolve_jwt_secret
from soundtime.context import AppContext, get_context
from soundtime.credentials.crypto import SecretBox
from soundtime.credentials.router import router as credentials_router
from soundtime.kit.body_limit import BodySizeLimit
from soundtime.kit.db import Database
from soundtime.kit.errors import install_error_handlers
from soundtime.kit.http_metrics import HttpMetrics
from soundtime.kit.openapi import document_errors
from soundtime.kit.ratelimit import RateLimiter
from soundtime.kit.slow_body import MinimumBodyRate
from soundtime.kit.text_guard import RejectUnstorableText
from soundtime.library import maintenance
from soundtime.library.router import router as library_router
from soundtime.listening.router import router as listening_router
from soundtime.monitoring import logbuffer
from soundtime.monitoring.router import router as monitoring_router
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.health.router import router as health_router
from soundtime.p2p.library_sync.router import router as library_sync_router
from soundtime.p2p.node import P2PNode
from soundtime.p2p.policy import Limits, Timings
from soundtime.p2p.router import router as p2p_router
from soundtime.p2p.transport import StartTransport
from soundtime.search.peers import PeerSearch
from soundtime.search.router import router as search_router
from soundtime.streaming.router import router as streaming_router
from soundtime.streaming.transcode import TranscodeCache, Transcoder
from soundtime.subsonic.router import router as subsonic_router
from soundtime.web.router import router as web_router
from soundtime.web.security import SecurityHeaders

log = logging.getLogger(__name__)

#: Failed logins allowed per account per minute (from unfamiliar addresses), as a multiple of the per-address
#: limit: an attacker rotating addresses meets it; the owner's usual addresses are not affected.
ACCOUNT_LIMIT_FACTOR = 3


def build_context(settings: Settings, db: Database, *, passwords: Passwords | None = None) -> AppContext:
    """Create the long-lived objects of a running instance on ``db`` (nothing is connected yet)."""
    return AppContext(
        settings=settings,
        db=db,
        audio=BlobStore(settings.audio_dir),
        blobs=BlobStore(settings.blobs_dir),
        cache=AudioCache(settings.cache_dir, settings.p2p_cache_max_size),
        tokens=TokenService(resolve_jwt_secret(settings)),
        passwords=passwords or Passwords(),
        auth_limiter=RateLimiter(settings.auth_rate_limit_per_minute, 60.0),
        login_throttle=LoginThrottle(settings.auth_rate_limit_per_minute * ACCOUNT_LIMIT_FACTOR),
        secret_box=SecretBox.from_data_dir(settings.data_dir),
        prepare_slots=asyncio.Semaphore(os.cpu_count() or 1),
        transcoder=Transcoder(
            TranscodeCache(settings.transcode_dir, settings.transcode_cache_max_size),
            max_concurrent=settings.transcode_slots,
        ),
    )


def _load_stores(context: AppContext) -> None:
    """Files of the stores, read at start-up (in a worker thread): leftover temporary files go, the caches load."""
    maintenance.sweep_temp((context.audio, context.blobs))
    context.cache.load()
    context.transcoder.cache.load()


@asynccontextmanager
async def running_context(
    settings: Settings,
    db: Database,
    *,
    passwords: Passwords | None = None,
    p2p_transports: StartTransport | None = None,
    p2p_timings: Timings | None = None,
    p2p_limits: Limits | None = None,
) -> AsyncIterator[AppContext]:
    """An instance running on ``db`` without its web application: stores loaded, database checked, upkeep and
    (with ``P2P_ENABLED``) the federation node with distributed search started; all stopped on exit.

    The application's lifespan serves it; tests drive services and the node through it directly. ``db`` stays
    open: whoever made it disposes of it. ``p2p_timings`` and ``p2p_limits`` replace the node's defaults.
    """
    context = build_context(settings, db, passwords=passwords)
    await asyncio.to_thread(_load_stores, context)
    await context.db.ping()
    upkeep = asyncio.create_task(
        maintenance.run_periodically(
            context.db,
            context.audio,
            context.blobs,
            temp_stores=(context.cache.store, context.transcoder.cache.store),
        )
    )
    node: P2PNode | None = None
    try:
        if settings.p2p_enabled:
            node = P2PNode(
                settings,
                context.db,
                context.audio,
                context.blobs,
                context.cache,
                timings=p2p_timings,
                limits=p2p_limits,
                transports=p2p_transports,
                last_play=context.last_play,
            )
            context.p2p = node
            context.peer_search = PeerSearch(node, context.cache)
            await node.start()
        log.info("soundtime %s ready (audio in %s)", soundtime.__version__, settings.audio_dir)
        yield context
    finally:
        await context.transcoder.close()
        if node is not None:
            await node.stop()
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep
        for store in (context.audio, context.blobs, context.cache.store, context.transcoder.cache.store):
            store.release_owner()


def create_app(
    settings: Settings,
    database_url: str,
    *,
    passwords: Passwords | None = None,
    p2p_transports: StartTransport | None = None,
    p2p_timings: Timings | None = None,
) -> FastAPI:
    """Build the application for ``settings``, using the PostgreSQL database at ``database_url``.

    ``p2p_transports`` starts the federation node's transport (default: an iroh endpoint; tests pass an
    in-memory network's); ``p2p_timings`` replaces the node's default timings (tests shorten waits with it).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(database_url, pool_size=settings.database_pool_size)
        try:
            async with running_context(
                settings, db, passwords=passwords, p2p_transports=p2p_transports, p2p_timings=p2p_timings
            ) as context:
                app.state.context = context
                # What start-up built lives as long as the process: out of the collector's sight, a full
                # collection (triggered by any burst of allocations: a catalogue page, a Bloom rebuild) scans only
                # newer objects. Measured: ~200,000 objects after start-up, a full collection 60-200 ms of stalled
                # event loop before, under 1 ms after (see the ingest note of issue 9).
                gc.freeze()
                try:
                    yield
                finally:
                    gc.unfreeze()  # collectable again once this app is gone (tests start many in one process)
        finally:
            await db.dispose()

    app = FastAPI(
        title="soundtime",
        version=soundtime.__version__,
        summary="Self-hosted music server that federates peer to peer over iroh.",
        lifespan=lifespan,
        docs_url=None,  # served by soundtime.web with local assets (no CDN)
        redoc_url=None,
    )
    install_error_handlers(app)
    logbuffer.install()
    app.add_middleware(BodySizeLimit, exempt_paths=frozenset({"/api/upload", "/api/upload/batch"}))
    app.add_middleware(RejectUnstorableText)  # outside the body limit: it reads the raw body, the limit counts it
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Range", "If-None-Match", "If-Range"],
            expose_headers=["Content-Range", "Content-Length", "Accept-Ranges", "ETag"],
        )
    app.add_middleware(MinimumBodyRate)  # around every reader of a body (its 408 still gets the headers below)
    app.add_middleware(SecurityHeaders)  # on every answer, refusals by the layers above included
    app.add_middleware(HttpMetrics)  # outermost: sees every answer, refusals by the layers above included
    routers = (
        auth_router,
        credentials_router,
        library_router,
        listening_router,
        streaming_router,
        search_router,
        admin_router,
        users_router,
        p2p_router,
        health_router,
        library_sync_router,
        monitoring_router,
        subsonic_router,
    )
    for router in (*routers, web_router):
        app.include_router(router)
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        tags=["health"],
        summary="Liveness and database check",
        responses={503: {"description": "the database does not answer"}},
    )
    document_errors(app)
    return app


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise."""
    context = get_context(request)
    try:
        await context.db.ping()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("health check: database unavailable: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "version": soundtime.__version__})
