"""HTTP routes of federation: node status and graph (/api/p2p), peers and blocks (admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from soundtime.auth.dependencies import AdminUser, current_user
from soundtime.context import ContextDep, SessionDep
from soundtime.kit.etag import json_with_etag
from soundtime.kit.openapi import errors
from soundtime.p2p import repository as repo
from soundtime.p2p import service
from soundtime.p2p.schemas import (
    AddPeerIn,
    AddPeerOut,
    BlockExport,
    BlockImportOut,
    BlockIn,
    BlockOut,
    NetworkGraph,
    P2PStatus,
    PeerList,
    PeerOut,
    PingOut,
)

router = APIRouter(tags=["p2p"])
NodeIdPath = Annotated[str, Path(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$")]


@router.get(
    "/api/p2p/status",
    summary="Node status",
    dependencies=[Depends(current_user)],
    response_model=P2PStatus,
    responses=errors(304, 401),
)
async def status(request: Request, context: ContextDep, session: SessionDep) -> Response:
    """Identity, addresses, ticket and peer counts of this instance's node (ETag: poll with If-None-Match)."""
    return json_with_etag(request, await service.status(context, session))


@router.get(
    "/api/p2p/network-graph",
    summary="Network graph",
    dependencies=[Depends(current_user)],
    response_model=NetworkGraph,
    responses=errors(304, 401),
)
async def network_graph(request: Request, context: ContextDep, session: SessionDep) -> Response:
    """This instance, its relay, its peers and the peers of peers learned by exchange.

    The answer carries a strong ETag over its content: poll with ``If-None-Match`` and an unchanged graph costs
    a 304 with no body.
    """
    return json_with_etag(request, await service.network_graph(context, session))


@router.get(
    "/api/admin/p2p/peers",
    summary="Known peers",
    tags=["admin"],
    response_model=list[PeerOut],
    responses=errors(304, 401, 403),
)
async def list_peers(request: Request, _: AdminUser, session: SessionDep) -> Response:
    """Every known peer, online first (ETag: poll with If-None-Match)."""
    return json_with_etag(request, PeerList([service.peer_out(p) for p in await repo.list_peers(session)]))


@router.post(
    "/api/admin/p2p/peers",
    summary="Add a peer",
    status_code=201,
    tags=["admin"],
    responses=errors(
        (400, "not a node id, `id@ip:port` or ticket, or this instance's own id (`invalid_peer`)"),
        (409, "the node is blocked (`peer_blocked`), or was removed or blocked meanwhile (`peer_removed`)"),
        (503, "federation is disabled (`p2p_disabled`)"),
    ),
)
async def add_peer(body: AddPeerIn, _: AdminUser, context: ContextDep) -> AddPeerOut:
    """Add a peer by node id, ``id@ip:port`` or iroh ticket and ping it (at most 10 s)."""
    return await service.add_peer(context, body.node_id)


@router.delete("/api/admin/p2p/peers/{node_id}", summary="Remove a peer", status_code=204, tags=["admin"])
async def delete_peer(node_id: NodeIdPath, _: AdminUser, context: ContextDep, session: SessionDep) -> Response:
    """Forget a peer (it may come back if it contacts us; block it to keep it out)."""
    await service.delete_peer(context, session, node_id)
    return Response(status_code=204)


@router.post(
    "/api/admin/p2p/peers/{node_id}/ping",
    summary="Ping a peer",
    tags=["admin"],
    responses=errors(
        (404, "no such peer"),
        (409, "the node is blocked (`peer_blocked`)"),
        (503, "federation is disabled (`p2p_disabled`)"),
    ),
)
async def ping_peer(node_id: NodeIdPath, _: AdminUser, context: ContextDep) -> PingOut:
    """Ping a known peer (at most 10 s)."""
    return await service.ping_peer(context, node_id)


@router.get("/api/admin/blocked-domains", summary="Blocked nodes and domains", tags=["admin"])
async def list_blocks(_: AdminUser, session: SessionDep) -> list[BlockOut]:
    """Every block, newest first."""
    return [
        BlockOut(id=b.id, domain=b.domain, reason=b.reason, created_at=b.created_at)
        for b in await repo.blocked_domains(session)
    ]


@router.post(
    "/api/admin/blocked-domains",
    summary="Block a node or domain",
    status_code=201,
    tags=["admin"],
    responses=errors((400, "not a node id or domain name"), (409, "already blocked (`already_blocked`)")),
)
async def add_block(body: BlockIn, admin: AdminUser, context: ContextDep, session: SessionDep) -> BlockOut:
    """Block a node id (open connections are closed at once) or a domain."""
    return await service.block_one(context, session, BlockExport(domain=body.domain, reason=body.reason), admin.id)


@router.get("/api/admin/blocked-domains/export", summary="Export the block list", tags=["admin"])
async def export_blocks(_: AdminUser, session: SessionDep) -> list[BlockExport]:
    """The block list in the import format."""
    return [BlockExport(domain=b.domain, reason=b.reason) for b in await repo.blocked_domains(session)]


@router.post("/api/admin/blocked-domains/import", summary="Import a block list", tags=["admin"])
async def import_blocks(
    body: list[BlockExport], admin: AdminUser, context: ContextDep, session: SessionDep
) -> BlockImportOut:
    """Add every entry not blocked yet (at most 1,000)."""
    return await service.import_blocks(context, session, body, admin.id)


@router.delete("/api/admin/blocked-domains/{block_id}", summary="Lift a block", status_code=204, tags=["admin"])
async def delete_block(block_id: uuid.UUID, _: AdminUser, context: ContextDep, session: SessionDep) -> Response:
    """Lift a block."""
    await service.unblock(context, session, block_id)
    return Response(status_code=204)
