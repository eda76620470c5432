"""HTTP routes of library sync (admin): per-peer counts and state, and re-syncs with live progress."""

from __future__ import annotations

from fastapi import APIRouter

from soundtime.auth.dependencies import AdminUser
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.openapi import errors
from soundtime.p2p.library_sync import service
from soundtime.p2p.library_sync.schemas import LibrarySyncOverview, PeerLibrarySync
from soundtime.p2p.router import NodeIdPath

router = APIRouter(prefix="/api/admin/p2p/library-sync", tags=["admin", "p2p"])


@router.get("", summary="Library sync of every peer", responses=errors(401, 403))
async def library_sync(_: AdminUser, context: ContextDep, session: SessionDep) -> LibrarySyncOverview:
    """Per peer: tracks it announced, tracks catalogued here from it, how many are playable, and its sync state."""
    return await service.overview(context, session)


@router.get(
    "/{node_id}",
    summary="Library sync of one peer",
    responses=errors(401, 403, (404, "no such peer"), (422, "not a node id (64 hex characters)")),
)
async def peer_library_sync(
    node_id: NodeIdPath, _: AdminUser, context: ContextDep, session: SessionDep
) -> PeerLibrarySync:
    """One peer's counts and sync state; poll it to follow a running re-sync."""
    return await service.peer(context, session, node_id)


@router.post(
    "/{node_id}",
    summary="Re-sync one peer",
    status_code=202,
    responses=errors(
        401,
        403,
        (404, "no such peer"),
        (409, "the peer is blocked (`peer_blocked`) or a re-sync of it is running (`resync_running`)"),
        (422, "not a node id (64 hex characters)"),
        (503, "P2P is disabled (`p2p_disabled`) or the peer did not answer in 10 s (`peer_unavailable`)"),
    ),
)
async def resync_peer(node_id: NodeIdPath, _: AdminUser, context: ContextDep) -> PeerLibrarySync:
    """Ask the peer for its whole catalogue (RequestCatalog) once it answered a Ping; the pages are ingested in
    the background and counted in ``resync`` (poll ``GET …/library-sync/{node_id}``).
    """
    return await service.start_resync(context, node_id)
