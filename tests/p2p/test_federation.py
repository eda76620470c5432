"""Real instances federating over iroh on loopback: catalog sync, peer exchange, graph, blocking, restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from soundtime.kit.ratelimit import RateLimiter
from soundtime.models import Album, Artist, Cover, Peer, PeerLink, Track, track_sources
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerUnavailable
from soundtime.p2p.transport import MemoryNetwork
from tests.p2p.conftest import Instance, Node, StartNode, eventually
from tests.support.api import upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png


async def _titles(instance: Instance) -> set[str]:
    response = await instance.client.get("/api/tracks", params={"limit": 100}, headers=instance.headers)
    assert response.status_code == 200, response.text
    return {t["title"] for t in response.json()["items"]}


async def _upload(instance: Instance, audio: AudioFactory, tmp_path: Path, spec: TrackSpec, fmt: str = "mp3") -> Any:
    path = audio.make(tmp_path / instance.name / f"{spec.title}.{fmt}", fmt, spec)
    response = await upload(instance.client, instance.token, path)
    assert response.status_code == 201, response.text
    return response.json()["track"]


async def _count(instance: Instance, stmt: Any) -> int:
    async with instance.context.db.transaction() as session:
        return int((await session.execute(stmt)).scalar_one())


async def test_three_instances_replicate_exchange_and_graph(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a")
    cover = make_cover_png(seed=7)
    await _upload(a, audio, tmp_path, TrackSpec(title="Before Anyone", album="First Light", cover=cover))
    b = await start_instance("b", P2P_SEED_PEERS=a.dial_address())
    c = await start_instance("c", P2P_SEED_PEERS=a.dial_address())

    # B and C pinged A at start; A pushed its catalog to each.
    for peer in (b, c):
        assert await eventually(lambda p=peer: _has_title(p, "Before Anyone"))
    # A later upload is announced to the online peers.
    await _upload(a, audio, tmp_path, TrackSpec(title="After Everyone", album="First Light", frequency=550.0))
    for peer in (b, c):
        assert await eventually(lambda p=peer: _has_title(p, "After Everyone"))

    # Rows on B: tracks point at A as origin and source; the cover was fetched, verified and stored once.
    async with b.context.db.transaction() as session:
        tracks = (await session.scalars(select(Track).order_by(Track.title))).all()
        assert {t.origin_node for t in tracks} == {a.node_id}
        assert all(t.file_path is None for t in tracks)
        sources = (await session.execute(select(track_sources.c.node_id, track_sources.c.is_origin))).all()
        assert sorted(sources) == [(a.node_id, True), (a.node_id, True)]
        assert (await session.execute(select(func.count()).select_from(Album))).scalar_one() == 1
    cover_hash = await eventually(lambda: _album_cover(b))
    assert b.context.blobs.read_bytes(cover_hash, max_size=1 << 20) == cover
    assert await _count(b, select(func.count()).select_from(Cover)) == 1

    # B and C learn each other through A (peer exchange) and connect.
    await b.node.contacts.run_round()
    await c.node.contacts.run_round()
    await b.node.contacts.run_round()
    assert await eventually(lambda: _online(b, c.node_id))
    assert await eventually(lambda: _online(c, b.node_id))

    # B's graph: itself, A and C, with A's knowledge of C as an edge; A's heartbeats keep its count current.
    graph = await eventually(lambda: _graph_when(b, a.node_id, track_count=2))
    kinds = {n["id"]: n["node_type"] for n in graph["nodes"]}
    assert kinds == {b.node_id: "self", a.node_id: "peer", c.node_id: "peer"}
    edges = {(link["source"], link["target"]) for link in graph["links"]}
    assert {(b.node_id, a.node_id), (b.node_id, c.node_id), (a.node_id, c.node_id)} <= edges
    by_id = {n["id"]: n for n in graph["nodes"]}
    assert by_id[a.node_id]["track_count"] == 2
    assert by_id[a.node_id]["online"] is True

    status = (await b.client.get("/api/p2p/status", headers=b.headers)).json()
    assert status["enabled"] is True
    assert status["node_id"] == b.node_id
    assert status["peer_count"] == 2
    assert status["online_peer_count"] == 2
    assert status["ticket"].startswith("endpoint")


async def _graph_when(instance: Instance, node_id: str, **expected: object) -> dict[str, Any] | None:
    response = await instance.client.get("/api/p2p/network-graph", headers=instance.headers)
    assert response.status_code == 200, response.text
    graph: dict[str, Any] = response.json()
    node = next((n for n in graph["nodes"] if n["id"] == node_id), {})
    return graph if all(node.get(k) == v for k, v in expected.items()) else None


async def _has_title(instance: Instance, title: str) -> bool:
    return title in await _titles(instance)


async def _album_cover(instance: Instance) -> str | None:
    async with instance.context.db.transaction() as session:
        return (await session.execute(select(Album.cover_hash))).scalar_one_or_none()


async def _online(instance: Node, node_id: str) -> bool:
    async with instance.context.db.transaction() as session:
        peer = await session.get(Peer, node_id)
        return peer is not None and peer.is_online


async def test_blocking_stops_every_exchange(start_instance: Any, audio: AudioFactory, tmp_path: Path) -> None:
    a = await start_instance("a")
    b = await start_instance("b", P2P_SEED_PEERS=a.dial_address())
    c = await start_instance("c", P2P_SEED_PEERS=f"{a.dial_address()},{b.dial_address()}")
    assert await eventually(lambda: _online(b, c.node_id))
    assert b.node.transport.connections(c.node_id)

    response = await b.client.post(
        "/api/admin/blocked-domains", json={"domain": c.node_id.upper(), "reason": "spam"}, headers=b.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["domain"] == c.node_id
    # Open connections between them are closed at once; C's new attempts are refused.
    assert await eventually(lambda: _no_connections(b, c.node_id))
    # A fresh Ping, not contact(): that would join a contact of C's rounds already answered before the block.
    with pytest.raises(PeerUnavailable):
        await c.node.contacts.ping(b.node_id)
    # A dial of B's that was already under way when the block landed may complete: the messenger closes such a
    # connection before any message goes out on it, so none is kept.
    assert await eventually(lambda: _no_connections(b, c.node_id))

    # C's uploads reach A but never B, even through A's peer exchange or C's announcements.
    await _upload(c, audio, tmp_path, TrackSpec(title="From C"))
    assert await eventually(lambda: _has_title(a, "From C"))
    await b.node.contacts.run_round()
    await c.node.contacts.run_round()
    assert "From C" not in await _titles(b)
    assert await _count(b, select(func.count()).select_from(Track)) == 0
    # B never advertises C and ignores C when A advertises it.
    advertised = await b.node.exchange.message()
    assert c.node_id not in advertised.peers
    assert await _count(b, select(func.count()).select_from(PeerLink).where(PeerLink.neighbour_id == c.node_id)) == 0
    graph = (await b.client.get("/api/p2p/network-graph", headers=b.headers)).json()
    assert c.node_id not in {n["id"] for n in graph["nodes"]}
    assert not await _online(b, c.node_id)

    # Lifting the block lets them talk again.
    block_id = response.json()["id"]
    assert (await b.client.delete(f"/api/admin/blocked-domains/{block_id}", headers=b.headers)).status_code == 204
    assert await c.node.contacts.contact(b.node_id) is not None


async def _no_connections(instance: Instance, node_id: str) -> bool:
    return not instance.node.transport.connections(node_id)


async def test_restart_keeps_identity_peers_and_catalog(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a")
    await _upload(a, audio, tmp_path, TrackSpec(title="Persistent"))
    b = await start_instance("b", keep_data=True, P2P_SEED_PEERS=a.dial_address())
    assert await eventually(lambda: _has_title(b, "Persistent"))
    old_id = b.node_id
    await start_instance.stop("b")

    b = await start_instance("b")  # no seed this time: the peer registry remembers A
    assert b.node_id == old_id
    assert await _has_title(b, "Persistent")
    assert await eventually(lambda: _online(b, a.node_id))
    async with b.context.db.transaction() as session:
        peer = await session.get(Peer, a.node_id)
        assert peer is not None
        assert peer.source == "seed"
        assert peer.track_count == 1
    assert await _count(b, select(func.count()).select_from(Artist)) == 1


async def test_a_deleted_peer_added_again_sends_its_whole_catalog_again(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a")
    await _upload(a, audio, tmp_path, TrackSpec(title="Again"))
    b = await start_instance("b", P2P_SEED_PEERS=a.dial_address())
    assert await eventually(lambda: _has_title(b, "Again"))

    b.node.policy.timings = replace(b.node.policy.timings, catch_up_delay=0.2)
    assert (await b.client.delete(f"/api/admin/p2p/peers/{a.node_id}", headers=b.headers)).status_code == 204
    assert await _count(b, select(func.count()).select_from(track_sources)) == 0
    response = await b.client.post("/api/admin/p2p/peers", json={"node_id": a.dial_address()}, headers=b.headers)
    assert response.json()["reachable"] is True
    # A only pushes changes since its last push to B, but B notices it holds nothing of A's and asks for all.
    assert await eventually(lambda: _sources(b, 1))


async def _sources(instance: Instance, expected: int) -> bool:
    return await _count(instance, select(func.count()).select_from(track_sources)) == expected


async def test_a_message_the_peer_refuses_is_not_taken_as_delivered(start_node: StartNode) -> None:
    network = MemoryNetwork(heartbeat_interval=3600)  # no heartbeat may take the one request A still reads
    a = await start_node("a", network=network)
    b = await start_node("b", network=network, P2P_SEED_PEERS=a.dial_address())
    assert await eventually(lambda: _online(b, a.node_id))
    assert await eventually(lambda: _has_filter(a, b.node_id))  # B's search filter, sent on contact, has arrived
    frames = RateLimiter(1, 3600.0)  # A now reads one request an hour from each peer...
    frames.hit(b.node_id)  # ...and B has had its one: whatever B sends now is refused, whatever else it sent before
    a.node.inbound.frames = frames
    with pytest.raises(PeerUnavailable, match="refused"):
        await b.node.messenger.send(a.node_id, wire.RequestCatalog())
    a.node.inbound.frames = RateLimiter(100, 60.0)  # the limit lifted, the same message is delivered
    await b.node.messenger.send(a.node_id, wire.RequestCatalog())


async def _has_filter(instance: Node, node_id: str) -> bool:
    return instance.search.filters.received.get(node_id) is not None
