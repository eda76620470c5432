"""Library sync per peer: counts from the database joined with the node's re-sync progress; starting a re-sync."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.context import AppContext
from soundtime.kit.errors import Conflict, NotFound, ServiceUnavailable
from soundtime.p2p import repository as p2p_repo
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerError
from soundtime.p2p.face import Federation
from soundtime.p2p.library_sync import repository as repo
from soundtime.p2p.library_sync.schemas import LibrarySyncOverview, PeerLibrarySync, ResyncProgress
from soundtime.p2p.library_sync.tracker import Resync, ResyncRunning
from soundtime.p2p.ports import MAX_TRACK_COUNT


def _node(context: AppContext) -> Federation:
    if context.p2p is None:
        raise ServiceUnavailable("the p2p node is disabled (P2P_ENABLED=false)", code="p2p_disabled")
    return context.p2p


def _sync_state(resync: Resync | None) -> Literal["idle", "syncing", "failed"]:
    if resync is None or resync.state == "done":
        return "idle"
    return "syncing" if resync.state == "running" else "failed"


def _peer_out(row: repo.PeerSyncRow, resync: Resync | None) -> PeerLibrarySync:
    return PeerLibrarySync(
        **dataclasses.asdict(row),
        sync_state=_sync_state(resync),
        last_error=resync.error if resync is not None else None,
        resync=None if resync is None else ResyncProgress.model_validate(resync, from_attributes=True),
    )


async def overview(context: AppContext, session: AsyncSession) -> LibrarySyncOverview:
    """Every known peer with its counts and sync state, online first."""
    rows = await repo.peer_sync(session, context.cache.digests())
    resyncs = context.p2p.resyncs if context.p2p is not None else None
    return LibrarySyncOverview(
        peers=[_peer_out(row, resyncs.get(row.node_id) if resyncs is not None else None) for row in rows]
    )


async def peer(context: AppContext, session: AsyncSession, node_id: str) -> PeerLibrarySync:
    """One peer's counts and sync state (poll it to follow a re-sync); 404 for an unknown peer."""
    rows = await repo.peer_sync(session, context.cache.digests(), node_id.lower())
    if not rows:
        raise NotFound("no such peer", code="peer_not_found")
    resync = context.p2p.resyncs.get(rows[0].node_id) if context.p2p is not None else None
    return _peer_out(rows[0], resync)


async def start_resync(context: AppContext, node_id: str) -> PeerLibrarySync:
    """Ask a peer for its whole catalogue (RequestCatalog) and follow the pages in the background.

    503 when P2P is disabled or the peer does not answer a Ping and acknowledge the request within
    ``Timings.admin_ping_timeout``; 404 for an unknown
    peer; 409 when it is blocked or a re-sync of it is running.
    """
    node = _node(context)
    node_id = node_id.lower()
    async with context.db.transaction() as session:
        if await p2p_repo.get_peer(session, node_id) is None:
            raise NotFound("no such peer", code="peer_not_found")
    if node.peers.is_blocked(node_id):
        raise Conflict("this node is blocked; lift the block first", code="peer_blocked")
    try:
        resync = node.resyncs.begin(node_id)
    except ResyncRunning as exc:
        raise Conflict("a re-sync of this peer is running; follow its progress", code="resync_running") from exc
    try:
        async with asyncio.timeout(within := node.policy.timings.admin_ping_timeout):
            pong = await node.contacts.ping(node_id)
            await node.messenger.send(node_id, wire.RequestCatalog())
    except (PeerError, TimeoutError) as exc:
        reason = str(exc) or f"no answer within {within:g} s"
        node.resyncs.failed(resync, f"the peer could not be asked: {reason}")
        await node.peers.record_failure(node_id)
        raise ServiceUnavailable(f"peer {node_id[:16]} is unreachable: {reason}", code="peer_unavailable") from exc
    node.resyncs.requested(resync, min(pong.track_count, MAX_TRACK_COUNT))
    async with context.db.transaction() as session:
        return await peer(context, session, node_id)
