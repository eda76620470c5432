"""What the federation HTTP routes do: status, network graph, peer administration, blocking."""

from __future__ import annotations

import asyncio
import functools
import re
import time
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.context import AppContext
from soundtime.kit.db import on_commit
from soundtime.kit.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from soundtime.models import Peer
from soundtime.p2p import repository as repo
from soundtime.p2p.errors import PeerError
from soundtime.p2p.face import Federation
from soundtime.p2p.ports import VERSION
from soundtime.p2p.schemas import (
    AddPeerOut,
    BlockExport,
    BlockImportOut,
    BlockOut,
    GraphLink,
    GraphNode,
    NetworkGraph,
    P2PStatus,
    PeerOut,
    PingOut,
)
from soundtime.p2p.transport import is_node_id, parse_peer_address

#: Entries per import: the largest list (ids with 500-character reasons) stays under the 1 MiB body limit.
MAX_IMPORTED_BLOCKS = 1000
_HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?")


def _node(context: AppContext) -> Federation:
    if context.p2p is None:
        raise ServiceUnavailable("the p2p node is disabled (P2P_ENABLED=false)", code="p2p_disabled")
    return context.p2p


def peer_out(peer: Peer) -> PeerOut:
    """The HTTP view of a peer row."""
    return PeerOut(
        node_id=peer.node_id,
        name=peer.name,
        version=peer.version,
        track_count=peer.track_count,
        is_online=peer.is_online,
        last_seen_at=peer.last_seen_at,
        created_at=peer.created_at,
        source=peer.source,
        addresses=[str(a) for a in peer.addresses],
        failure_count=peer.failure_count,
        next_attempt_at=peer.next_attempt_at,
        last_catalog_push_at=peer.last_catalog_push_at,
    )


async def status(context: AppContext, session: AsyncSession) -> P2PStatus:
    """The node's identity, addresses and peer counts."""
    peers = await repo.list_peers(session)
    node = context.p2p
    address = node.transport.address() if node is not None else None
    return P2PStatus(
        enabled=node is not None,
        node_id=node.node_id if node is not None else None,
        relay_url=address.relay_url if address is not None else None,
        relay_connected=address is not None and address.relay_url is not None,
        direct_addresses=list(address.direct_addresses) if address is not None else [],
        peer_count=len(peers),
        online_peer_count=sum(p.is_online for p in peers),
        dht_discovery_enabled=context.settings.p2p_relay and node is not None,
        ticket=node.transport.ticket() if node is not None else None,
        listen_ports=node.transport.bound_ports() if node is not None else [],
        local_discovery=context.settings.p2p_local_discovery and node is not None,
        version=VERSION,
    )


async def network_graph(context: AppContext, session: AsyncSession) -> NetworkGraph:
    """Self, relay, every known unblocked peer, and the links peer exchange taught us."""
    node = context.p2p
    self_id = node.node_id if node is not None else "self"
    blocked = await repo.blocked_set(session)
    peers = {p.node_id: p for p in await repo.list_peers(session) if p.node_id not in blocked}
    nodes = [
        GraphNode(
            id=self_id,
            node_type="self",
            label="this instance",
            online=True,
            track_count=await repo.own_track_count(session),
            version=VERSION,
        )
    ]
    links: list[GraphLink] = []
    relay = node.transport.address().relay_url if node is not None else None
    if relay:
        nodes.append(GraphNode(id=relay, node_type="relay", label=relay, online=True))
        links.append(GraphLink(source=self_id, target=relay, link_type="relay"))
    for peer in peers.values():
        nodes.append(
            GraphNode(
                id=peer.node_id,
                node_type="peer",
                label=peer.name or peer.node_id[:12],
                online=peer.is_online,
                track_count=peer.track_count,
                version=peer.version,
            )
        )
        if peer.is_online:
            links.append(GraphLink(source=self_id, target=peer.node_id, link_type="direct"))
    for source, target in await repo.list_links(session):
        if source in peers and target in peers and source != target:
            links.append(GraphLink(source=source, target=target, link_type="peer"))
    return NetworkGraph(nodes=nodes, links=links)


async def add_peer(context: AppContext, text: str) -> AddPeerOut:
    """Register a peer from a node id, ``id@ip:port`` or ticket, then try to contact it."""
    node = _node(context)
    try:
        address = parse_peer_address(text.strip())
    except ValueError as exc:
        raise BadRequest(str(exc), code="invalid_peer") from exc
    if address.node_id == node.node_id:
        raise BadRequest("that is this instance's own node id", code="invalid_peer")
    if node.peers.is_blocked(address.node_id):
        raise Conflict("this node is blocked; lift the block first", code="peer_blocked")
    await node.peers.add(address, source="manual")
    error = None
    try:
        async with asyncio.timeout(node.policy.timings.admin_ping_timeout):
            reachable = await node.contacts.contact(address.node_id) is not None
    except TimeoutError:
        reachable, error = False, "no answer in time"
    if not reachable and error is None:
        error = "the peer did not answer"
    async with context.db.transaction() as session:
        peer = await repo.get_peer(session, address.node_id)
    if peer is None:  # removed or blocked by another request meanwhile
        raise Conflict("the peer was removed or blocked while it was being added", code="peer_removed")
    return AddPeerOut(peer=peer_out(peer), reachable=reachable, error=error)


async def delete_peer(context: AppContext, session: AsyncSession, node_id: str) -> None:
    """Forget a peer for good (its row, links and track sources)."""
    if not await repo.delete_peer(session, node_id.lower()):
        raise NotFound("no such peer", code="peer_not_found")
    if context.p2p is not None:
        on_commit(session, functools.partial(context.p2p.peers.forget, node_id.lower()))


async def ping_peer(context: AppContext, node_id: str) -> PingOut:
    """Ping a known peer with a timeout; an unreachable peer is a result, not an error."""
    node = _node(context)
    node_id = node_id.lower()
    async with context.db.transaction() as session:
        if await repo.get_peer(session, node_id) is None:
            raise NotFound("no such peer", code="peer_not_found")
    if node.peers.is_blocked(node_id):
        raise Conflict("this node is blocked", code="peer_blocked")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(node.policy.timings.admin_ping_timeout):
            pong = await node.contacts.ping(node_id)
    except (PeerError, TimeoutError) as exc:
        await node.peers.record_failure(node_id)
        return PingOut(node_id=node_id, reachable=False, error=str(exc) or "no answer in time")
    rtt = round((time.perf_counter() - started) * 1000, 2)
    return PingOut(node_id=node_id, reachable=True, rtt_ms=rtt, track_count=pong.track_count, version=pong.version)


def normalise_domain(value: str) -> str:
    """A node id (64 hex, lower-cased) or a host name; anything else is a 400."""
    domain = value.strip().lower().rstrip(".")
    if is_node_id(domain) or _HOSTNAME.fullmatch(domain):
        return domain
    raise BadRequest(
        f"{value[:80]!r} is neither a node id (64 hex characters) nor a domain name", code="invalid_domain"
    )


async def block(
    context: AppContext, session: AsyncSession, entries: Sequence[BlockExport], created_by: uuid.UUID | None
) -> list[BlockOut]:
    """Add blocks (already blocked domains are skipped) and enforce them on the node once they are committed."""
    normalised = [(normalise_domain(e.domain), e.reason) for e in entries]
    rows = await repo.add_blocks(session, normalised, created_by)
    await session.flush()
    node_ids = [row.domain for row in rows if is_node_id(row.domain)]
    await repo.mark_offline(session, node_ids)
    if context.p2p is not None:
        on_commit(session, functools.partial(context.p2p.peers.blocked, node_ids))
    return [BlockOut(id=r.id, domain=r.domain, reason=r.reason, created_at=r.created_at) for r in rows]


async def block_one(context: AppContext, session: AsyncSession, entry: BlockExport, created_by: uuid.UUID) -> BlockOut:
    """Block one domain; 409 when it is already blocked."""
    rows = await block(context, session, [entry], created_by)
    if not rows:
        raise Conflict("this domain is already blocked", code="already_blocked")
    return rows[0]


async def import_blocks(
    context: AppContext, session: AsyncSession, entries: Sequence[BlockExport], created_by: uuid.UUID
) -> BlockImportOut:
    """Import a block list (as exported); known domains are skipped."""
    if len(entries) > MAX_IMPORTED_BLOCKS:
        raise BadRequest(f"at most {MAX_IMPORTED_BLOCKS} entries per import", code="too_many_entries")
    rows = await block(context, session, entries, created_by)
    return BlockImportOut(imported=len(rows), skipped=len(entries) - len(rows))


async def unblock(context: AppContext, session: AsyncSession, block_id: uuid.UUID) -> None:
    """Lift a block."""
    domain = await repo.remove_block(session, block_id)
    if domain is None:
        raise NotFound("no such block", code="block_not_found")
    if context.p2p is not None:
        on_commit(session, functools.partial(context.p2p.peers.unblock, domain))
