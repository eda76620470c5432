"""What the running application holds (database, stores, token service, limiters) and its FastAPI dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.auth.gate import AccountGate
from soundtime.auth.passwords import Passwords
from soundtime.auth.throttle import LoginThrottle
from soundtime.auth.tokens import TokenService
from soundtime.blobs.store import BlobStore
from soundtime.config import Settings
from soundtime.credentials.crypto import SecretBox
from soundtime.kit.activity import LastSeen
from soundtime.kit.db import Database
from soundtime.kit.ratelimit import RateLimiter
from soundtime.monitoring.counts import ScrapeCounts
from soundtime.p2p.cache import AudioCache

if TYPE_CHECKING:
    from soundtime.p2p.face import Federation
    from soundtime.search.peers import PeerSearch
    from soundtime.streaming.transcode.pool import Transcoder


@dataclass
class AppContext:
    """Long-lived objects shared by every request; built by the app's lifespan."""

    settings: Settings
    db: Database
    audio: BlobStore
    blobs: BlobStore
    #: Audio fetched from peers (bounded, least recently used evicted).
    cache: AudioCache
    tokens: TokenService
    passwords: Passwords
    auth_limiter: RateLimiter
    login_throttle: LoginThrottle
    #: Seals client-app passwords with the server key (``app_password_key`` in the data directory).
    secret_box: SecretBox
    #: Bounds how many uploaded files are validated (tag parsing, integrity checks) at once.
    prepare_slots: asyncio.Semaphore
    #: Live transcodes (bounded) and the cache of finished ones.
    transcoder: Transcoder
    #: The federation node, None when P2P_ENABLED is false (set once the lifespan has started it).
    p2p: Federation | None = None
    #: Distributed search plugged into the node (None with the node).
    peer_search: PeerSearch | None = None
    #: Database counts shown by /metrics, cached for a few seconds.
    scrape_counts: ScrapeCounts = field(default_factory=ScrapeCounts)
    #: Disabled accounts and revoked tokens, for routes that do not load the account.
    account_gate: AccountGate = field(default_factory=AccountGate)
    #: When audio was last asked for (federation's catalogue ingest yields to listeners for a while).
    last_play: LastSeen = field(default_factory=LastSeen)


def get_context(request: Request) -> AppContext:
    """The running application's context."""
    context: AppContext = request.app.state.context
    return context


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for one request: committed when the endpoint returns, rolled back if it raises."""
    async with get_context(request).db.transaction() as session:
        yield session


async def _context_of_request(request: Request) -> AppContext:
    """:func:`get_context` as a dependency (a coroutine: FastAPI runs plain functions in a worker thread, a
    thread hop per request)."""
    return get_context(request)


ContextDep = Annotated[AppContext, Depends(_context_of_request)]
# scope="function": the commit happens before the response is sent, so a failed commit is reported.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
