"""The HTTP routes of federation: peer administration, blocking, import/export, node status and graph."""

from __future__ import annotations

import json
import secrets
import socket
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from soundtime.models import BlockedDomain, Peer, Track, User, track_sources
from soundtime.p2p import service
from soundtime.p2p.ports import VERSION
from soundtime.p2p.transport import normalize_node_id, parse_peer_address
from tests.p2p.conftest import Instance, eventually
from tests.support.api import bearer, context_of, open_registration, register, upload
from tests.support.audio import AudioFactory, TrackSpec

NOT_A_KEY = "02" * 32  # 64 hex characters that are not an Ed25519 point
PEERS = "/api/admin/p2p/peers"
BLOCKS = "/api/admin/blocked-domains"


def random_node_id() -> str:
    """A valid node id nobody uses (about half of all 32-byte strings are Ed25519 points)."""
    while True:
        try:
            return normalize_node_id(secrets.token_hex(32))
        except ValueError:
            continue


def closed_udp_port() -> int:
    """A loopback UDP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an error in the one error shape, with this status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body


async def count(instance: Instance, stmt: Any) -> int:
    async with instance.context.db.transaction() as session:
        return int((await session.execute(stmt)).scalar_one())


async def peer_row(instance: Instance, node_id: str) -> Peer | None:
    async with instance.context.db.transaction() as session:
        return await session.get(Peer, node_id)


async def block_rows(instance: Instance) -> dict[str, BlockedDomain]:
    async with instance.context.db.transaction() as session:
        return {b.domain: b for b in (await session.scalars(select(BlockedDomain))).all()}


# --- authentication ---------------------------------------------------------------------------------------------


async def test_admin_routes_need_a_token_and_the_admin_role(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    await open_registration(a.client, a.token)
    user = bearer(await register(a.client, "bob"))
    peer = random_node_id()
    routes: list[tuple[str, str, Any]] = [
        ("GET", PEERS, None),
        ("POST", PEERS, {"node_id": peer}),
        ("DELETE", f"{PEERS}/{peer}", None),
        ("POST", f"{PEERS}/{peer}/ping", None),
        ("GET", BLOCKS, None),
        ("POST", BLOCKS, {"domain": "spam.example.com"}),
        ("DELETE", f"{BLOCKS}/{uuid.uuid4()}", None),
        ("GET", f"{BLOCKS}/export", None),
        ("POST", f"{BLOCKS}/import", [{"domain": "spam.example.com"}]),
    ]
    for method, path, body in routes:
        anonymous = await a.client.request(method, path, json=body)
        assert_error(anonymous, 401, "unauthorized")
        forged = await a.client.request(method, path, json=body, headers=bearer("not-a-token"))
        assert forged.status_code == 401, (method, path, forged.text)
        assert_error(await a.client.request(method, path, json=body, headers=user), 403, "forbidden")
    # Nothing was done on the refused requests' behalf.
    assert await count(a, select(func.count()).select_from(Peer)) == 0
    assert await block_rows(a) == {}

    # Status and graph are for every signed-in user, not for anonymous callers.
    for path in ("/api/p2p/status", "/api/p2p/network-graph"):
        assert_error(await a.client.get(path), 401, "unauthorized")
        response = await a.client.get(path, headers=user)
        assert response.status_code == 200, response.text


# --- adding peers -------------------------------------------------------------------------------------------------


async def test_adding_garbage_or_ourselves_is_refused(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    valid = random_node_id()
    port = a.node.transport.bound_ports()[0]
    garbage = [
        "hello",
        " ",
        valid[:63],
        valid + "0",
        "g" * 64,
        NOT_A_KEY,
        f"{NOT_A_KEY}@127.0.0.1:{port}",
        f"{valid}@notanip:1",
        f"{valid}@example.com:443",
        f"{valid}@1.2.3.4:99999",
        f"{valid}@1.2.3.4:0",
        f"{valid}@1.2.3.4",
        f"{valid}@1.2.3.4:",
        f"{valid}@::1:80",
        f"{valid}@[1.2.3.4]:80",
        f"{valid}@",
        "@1.2.3.4:80",
        f"{valid}@1.2.3.4:80@5.6.7.8:80",
        "endpoint",
        "endpointnotaticket",
        "endpoint" + "!" * 100,
        "é" * 64,
    ]
    for text in garbage:
        response = await a.client.post(PEERS, json={"node_id": text}, headers=a.headers)
        assert_error(response, 400, "invalid_peer")
    # Text no column can hold is refused before any route sees it.
    assert_error(await a.client.post(PEERS, json={"node_id": "\x00" * 10}, headers=a.headers), 422, "invalid")
    # Our own id, however it is written, is not a peer.
    for own in (a.node_id, a.node_id.upper(), f"  {a.node_id}\n", a.dial_address(), a.node.transport.ticket()):
        response = await a.client.post(PEERS, json={"node_id": own}, headers=a.headers)
        body = assert_error(response, 400, "invalid_peer")
        assert "own" in body["error"]["message"]
    # Not even a string, empty, or absurdly long: request validation.
    for body in ({}, {"node_id": ""}, {"node_id": 42}, {"node_id": "a" * 4097}, {"node_id": None}):
        assert_error(await a.client.post(PEERS, json=body, headers=a.headers), 422, "invalid")
    assert await count(a, select(func.count()).select_from(Peer)) == 0
    assert (await a.client.get(PEERS, headers=a.headers)).json() == []


async def test_add_ping_list_and_delete_a_running_peer(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a: Instance = await start_instance("a")
    b: Instance = await start_instance("b")
    path = audio.make(tmp_path / "b" / "offered.mp3", "mp3", TrackSpec(title="Offered By B"))
    assert (await upload(b.client, b.token, path)).status_code == 201
    b_port = b.node.transport.bound_ports()[0]

    started = time.monotonic()
    response = await a.client.post(PEERS, json={"node_id": f" {b.dial_address()} "}, headers=a.headers)
    assert response.status_code == 201, response.text
    assert time.monotonic() - started < 5
    added = response.json()
    assert added["reachable"] is True
    assert added["error"] is None
    assert added["peer"]["node_id"] == b.node_id
    assert added["peer"]["source"] == "manual"
    assert added["peer"]["addresses"] == [f"127.0.0.1:{b_port}"]
    assert added["peer"]["is_online"] is True
    assert added["peer"]["track_count"] == 1
    assert added["peer"]["version"] == VERSION
    assert added["peer"]["failure_count"] == 0

    listed = (await a.client.get(PEERS, headers=a.headers)).json()
    assert [p["node_id"] for p in listed] == [b.node_id]
    assert listed[0]["is_online"] is True

    # Ping: reachable, with a round-trip time and what the Pong said; the id is accepted in upper case.
    for node_id in (b.node_id, b.node_id.upper()):
        response = await a.client.post(f"{PEERS}/{node_id}/ping", headers=a.headers)
        assert response.status_code == 200, response.text
        pong = response.json()
        assert pong["node_id"] == b.node_id
        assert pong["reachable"] is True
        assert pong["error"] is None
        assert isinstance(pong["rtt_ms"], float)
        assert 0 < pong["rtt_ms"] < 5000
        assert pong["track_count"] == 1
        assert pong["version"] == VERSION

    # Status and graph show B as an online peer.
    status = (await a.client.get("/api/p2p/status", headers=a.headers)).json()
    assert (status["peer_count"], status["online_peer_count"]) == (1, 1)
    graph = (await a.client.get("/api/p2p/network-graph", headers=a.headers)).json()
    assert {n["id"]: n["node_type"] for n in graph["nodes"]} == {a.node_id: "self", b.node_id: "peer"}
    assert {"source": a.node_id, "target": b.node_id, "link_type": "direct"} in graph["links"]

    # B pushed its catalog when A pinged it: A now lists B as the source of B's track.
    sources = select(func.count()).select_from(track_sources).where(track_sources.c.node_id == b.node_id)
    assert await eventually(lambda: _positive(count(a, sources)))

    response = await a.client.delete(f"{PEERS}/{b.node_id.upper()}", headers=a.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert await peer_row(a, b.node_id) is None
    assert await count(a, sources) == 0  # the peer's track sources went with it
    assert await count(a, select(func.count()).select_from(Track)) == 1  # the replicated track itself stays
    assert not a.node.transport.connections(b.node_id)  # its connections were closed

    assert_error(await a.client.delete(f"{PEERS}/{b.node_id}", headers=a.headers), 404, "peer_not_found")
    assert_error(await a.client.post(f"{PEERS}/{b.node_id}/ping", headers=a.headers), 404, "peer_not_found")

    # B's iroh ticket (what its status page shows) works as well.
    ticket = (await b.client.get("/api/p2p/status", headers=b.headers)).json()["ticket"]
    response = await a.client.post(PEERS, json={"node_id": ticket}, headers=a.headers)
    assert response.status_code == 201, response.text
    assert response.json()["reachable"] is True
    assert response.json()["peer"]["node_id"] == b.node_id


async def _positive(value: Any) -> bool:
    return bool(await value)


async def test_an_unreachable_peer_is_added_as_offline(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    dead = random_node_id()
    address = f"{dead}@127.0.0.1:{closed_udp_port()}"
    # Nothing answers on a dead UDP port: the service gives up after admin_ping_timeout (10 s), shortened here.
    a.node.policy.timings = replace(a.node.policy.timings, admin_ping_timeout=1.0)

    response = await a.client.post(PEERS, json={"node_id": address}, headers=a.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["reachable"] is False
    assert body["error"] == "no answer in time"  # the 1 s wait ran out (the dial itself may take 10 s)
    assert body["peer"]["node_id"] == dead
    assert body["peer"]["is_online"] is False
    assert body["peer"]["source"] == "manual"
    assert body["peer"]["addresses"] == [address.partition("@")[2]]

    # A bare id (no address, no relay) cannot be dialled at all: the answer is immediate.
    bare = random_node_id()
    response = await a.client.post(PEERS, json={"node_id": bare.upper()}, headers=a.headers)
    assert response.status_code == 201, response.text
    assert response.json()["error"] == "the peer did not answer"  # refused at once, before the 1 s wait ran out
    assert response.json()["reachable"] is False
    assert response.json()["peer"]["node_id"] == bare
    failed = await peer_row(a, bare)
    assert failed is not None
    assert failed.failure_count == 1
    assert failed.next_attempt_at is not None

    listed = {p["node_id"]: p for p in (await a.client.get(PEERS, headers=a.headers)).json()}
    assert set(listed) == {dead, bare}
    assert not any(p["is_online"] for p in listed.values())

    # Pinging an unreachable known peer is a result, not an error.
    response = await a.client.post(f"{PEERS}/{bare}/ping", headers=a.headers)
    assert response.status_code == 200, response.text
    assert response.json()["reachable"] is False
    assert response.json()["rtt_ms"] is None
    assert response.json()["error"]

    # Adding it again keeps one row (and gives it the new address).
    response = await a.client.post(PEERS, json={"node_id": f"{bare}@127.0.0.1:{closed_udp_port()}"}, headers=a.headers)
    assert response.status_code == 201, response.text
    assert await count(a, select(func.count()).select_from(Peer)) == 2


async def test_blocked_nodes_cannot_be_added_or_pinged(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    blocked = random_node_id()
    response = await a.client.post(BLOCKS, json={"domain": blocked, "reason": "spam"}, headers=a.headers)
    assert response.status_code == 201, response.text
    for text in (blocked, blocked.upper(), f"{blocked}@127.0.0.1:{closed_udp_port()}"):
        assert_error(await a.client.post(PEERS, json={"node_id": text}, headers=a.headers), 409, "peer_blocked")
    assert await peer_row(a, blocked) is None

    # A known peer blocked later: ping refused, deletion still allowed.
    known = random_node_id()
    assert (await a.client.post(PEERS, json={"node_id": known}, headers=a.headers)).status_code == 201
    assert (await a.client.post(BLOCKS, json={"domain": known}, headers=a.headers)).status_code == 201
    assert_error(await a.client.post(f"{PEERS}/{known}/ping", headers=a.headers), 409, "peer_blocked")
    # Blocked peers stay in the admin list (to be seen and removed) but leave the graph.
    assert [p["node_id"] for p in (await a.client.get(PEERS, headers=a.headers)).json()] == [known]
    graph = (await a.client.get("/api/p2p/network-graph", headers=a.headers)).json()
    assert [n["id"] for n in graph["nodes"]] == [a.node_id]
    assert (await a.client.delete(f"{PEERS}/{known}", headers=a.headers)).status_code == 204
    assert await peer_row(a, known) is None


async def test_unknown_and_malformed_peer_ids(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    unknown = random_node_id()
    for node_id in (unknown, unknown.upper(), NOT_A_KEY):
        assert_error(await a.client.delete(f"{PEERS}/{node_id}", headers=a.headers), 404, "peer_not_found")
        assert_error(await a.client.post(f"{PEERS}/{node_id}/ping", headers=a.headers), 404, "peer_not_found")
    for node_id in (unknown[:63], unknown + "a", "g" * 64, "hello", f"{unknown[:60]}%20ab"):
        assert_error(await a.client.delete(f"{PEERS}/{node_id}", headers=a.headers), 422, "invalid")
        assert_error(await a.client.post(f"{PEERS}/{node_id}/ping", headers=a.headers), 422, "invalid")


# --- blocking ------------------------------------------------------------------------------------------------------


async def test_blocked_domains_add_list_and_lift(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    node = random_node_id()

    response = await a.client.post(BLOCKS, json={"domain": f" {node.upper()} ", "reason": "spam"}, headers=a.headers)
    assert response.status_code == 201, response.text
    by_id = response.json()
    assert by_id["domain"] == node
    assert by_id["reason"] == "spam"
    assert uuid.UUID(by_id["id"])
    assert a.node.peers.is_blocked(node)

    response = await a.client.post(BLOCKS, json={"domain": "Spam.Example.COM."}, headers=a.headers)
    assert response.status_code == 201, response.text
    by_name = response.json()
    assert by_name["domain"] == "spam.example.com"
    assert by_name["reason"] is None
    for domain in ("xn--bcher-kva.example", "a.b", "sub-1.my-host.example.org", "x" * 63 + ".com"):
        assert (await a.client.post(BLOCKS, json={"domain": domain}, headers=a.headers)).status_code == 201

    garbage = [
        "hello",
        "localhost",
        "1.2.3.4",
        "[::1]",
        "spam.example.com:443",
        "https://spam.example.com",
        "spam..example.com",
        "-spam.example.com",
        "spam-.example.com",
        "spam.example.com/path",
        "spam example.com",
        "spam.example.123",
        "spam.example-",  # a label never ends with a hyphen, the last one included
        "spam.example.c-",
        "x" * 64 + ".com",
        ".".join(["a" * 60] * 5),  # over 253 characters
        node[:63],
        "*.example.com",
        "spam.example.com\x00",
        "bücher.example",
    ]
    for domain in garbage:
        response = await a.client.post(BLOCKS, json={"domain": domain}, headers=a.headers)
        if len(domain) > 255 or "\x00" in domain:  # over the schema's limit, or a NUL: request validation
            assert_error(response, 422, "invalid")
        else:
            assert_error(response, 400, "invalid_domain")
    for body in ({"domain": ""}, {"domain": "a" * 256}, {"domain": "x.com", "reason": "r" * 501}, {}):
        assert_error(await a.client.post(BLOCKS, json=body, headers=a.headers), 422, "invalid")

    # Duplicates (in any spelling) are refused and keep the first reason.
    for duplicate in (node, node.upper(), "SPAM.example.com", "spam.example.com."):
        response = await a.client.post(BLOCKS, json={"domain": duplicate, "reason": "again"}, headers=a.headers)
        assert_error(response, 409, "already_blocked")
    rows = await block_rows(a)
    assert rows[node].reason == "spam"
    assert len(rows) == 6
    admin_id = await _user_id(a, "admin")
    assert {r.created_by for r in rows.values()} == {admin_id}

    listed = (await a.client.get(BLOCKS, headers=a.headers)).json()
    assert [b["domain"] for b in listed][-2:] == ["spam.example.com", node]  # newest first
    assert {b["id"] for b in listed} == {str(r.id) for r in rows.values()}

    # Lifting a block: 204, the row is gone and the node may be contacted again; twice is 404.
    assert (await a.client.delete(f"{BLOCKS}/{by_id['id']}", headers=a.headers)).status_code == 204
    assert node not in await block_rows(a)
    assert not a.node.peers.is_blocked(node)
    assert_error(await a.client.delete(f"{BLOCKS}/{by_id['id']}", headers=a.headers), 404, "block_not_found")
    assert_error(await a.client.delete(f"{BLOCKS}/{uuid.uuid4()}", headers=a.headers), 404, "block_not_found")
    assert_error(await a.client.delete(f"{BLOCKS}/not-a-uuid", headers=a.headers), 422, "invalid")
    # A lifted block can be added again.
    assert (await a.client.post(BLOCKS, json={"domain": node}, headers=a.headers)).status_code == 201


async def _user_id(instance: Instance, username: str) -> uuid.UUID:
    async with instance.context.db.transaction() as session:
        return (await session.execute(select(User.id).where(User.username == username))).scalar_one()


async def test_export_and_import_round_trip(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    b: Instance = await start_instance("b")
    nodes = [random_node_id() for _ in range(3)]
    entries: list[dict[str, str | None]] = [
        {"domain": nodes[0], "reason": "spam"},
        {"domain": nodes[1], "reason": None},
        {"domain": nodes[2], "reason": "abuse"},
        {"domain": "spam.example.com", "reason": "ads"},
    ]
    for entry in entries:
        assert (await a.client.post(BLOCKS, json=entry, headers=a.headers)).status_code == 201
    exported = (await a.client.get(f"{BLOCKS}/export", headers=a.headers)).json()
    assert sorted(exported, key=lambda e: str(e["domain"])) == sorted(entries, key=lambda e: str(e["domain"]))

    # B already blocks one of them (with its own reason, which the import does not overwrite).
    mine = await b.client.post(BLOCKS, json={"domain": nodes[1], "reason": "mine"}, headers=b.headers)
    assert mine.status_code == 201, mine.text
    response = await b.client.post(f"{BLOCKS}/import", json=exported, headers=b.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 3, "skipped": 1}
    rows = await block_rows(b)
    assert set(rows) == {e["domain"] for e in entries}
    assert rows[nodes[0]].reason == "spam"
    assert rows[nodes[1]].reason == "mine"
    assert rows["spam.example.com"].reason == "ads"
    assert rows[nodes[2]].created_by == await _user_id(b, "admin")
    # The imported node ids are enforced at once by B's node.
    assert all(b.node.peers.is_blocked(n) for n in nodes)

    # Importing the same list again changes nothing; duplicates inside one list and other spellings are skipped.
    assert (await b.client.post(f"{BLOCKS}/import", json=exported, headers=b.headers)).json() == {
        "imported": 0,
        "skipped": 4,
    }
    again = [{"domain": nodes[0].upper()}, {"domain": "new.example.org"}, {"domain": "NEW.example.org."}]
    response = await b.client.post(f"{BLOCKS}/import", json=again, headers=b.headers)
    assert response.json() == {"imported": 1, "skipped": 2}
    assert (await b.client.post(f"{BLOCKS}/import", json=[], headers=b.headers)).json() == {"imported": 0, "skipped": 0}

    # One invalid entry refuses the whole list (nothing is half-imported).
    bad = [{"domain": "fine.example.net"}, {"domain": "not a domain"}]
    assert_error(await b.client.post(f"{BLOCKS}/import", json=bad, headers=b.headers), 400, "invalid_domain")
    assert "fine.example.net" not in await block_rows(b)
    for body in ({"domain": "x.com"}, [{"reason": "no domain"}], [{"domain": ""}], "x.com"):
        assert_error(await b.client.post(f"{BLOCKS}/import", json=body, headers=b.headers), 422, "invalid")

    # At most 1,000 entries per import (the list is refused before anything is stored).
    many = [{"domain": secrets.token_hex(32)} for _ in range(service.MAX_IMPORTED_BLOCKS + 1)]
    response = await b.client.post(
        f"{BLOCKS}/import",
        content=json.dumps(many, separators=(",", ":")),
        headers={**b.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "too_many_entries")
    assert len(await block_rows(b)) == 5
    # The largest allowed list (every reason at its maximum length) fits in a request body.
    largest = [{"domain": d["domain"], "reason": "r" * 500} for d in many[: service.MAX_IMPORTED_BLOCKS]]
    response = await b.client.post(f"{BLOCKS}/import", json=largest, headers=b.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": service.MAX_IMPORTED_BLOCKS, "skipped": 0}


# --- status and graph ------------------------------------------------------------------------------------------------


async def test_status_and_graph_of_a_running_node(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    status = (await a.client.get("/api/p2p/status", headers=a.headers)).json()
    assert status["enabled"] is True
    assert status["node_id"] == a.node_id
    assert status["relay_url"] is None  # the tests run without relays
    assert status["relay_connected"] is False
    assert status["dht_discovery_enabled"] is False
    assert status["local_discovery"] is False
    assert (status["peer_count"], status["online_peer_count"]) == (0, 0)
    assert status["listen_ports"] == a.node.transport.bound_ports()
    assert status["direct_addresses"]
    assert status["version"] == VERSION
    ticket = parse_peer_address(status["ticket"])
    assert ticket.node_id == a.node_id
    assert set(ticket.direct_addresses) == set(status["direct_addresses"])

    graph = (await a.client.get("/api/p2p/network-graph", headers=a.headers)).json()
    assert graph == {
        "nodes": [
            {
                "id": a.node_id,
                "node_type": "self",
                "label": "this instance",
                "online": True,
                "track_count": 0,
                "version": VERSION,
            }
        ],
        "links": [],
    }


async def test_status_and_routes_with_p2p_disabled(client: httpx.AsyncClient, app: FastAPI) -> None:
    token = await register(client, "admin")
    headers = bearer(token)

    status = await client.get("/api/p2p/status", headers=headers)
    assert status.status_code == 200, status.text
    assert status.json() == {
        "enabled": False,
        "node_id": None,
        "relay_url": None,
        "relay_connected": False,
        "direct_addresses": [],
        "peer_count": 0,
        "online_peer_count": 0,
        "dht_discovery_enabled": False,
        "ticket": None,
        "listen_ports": [],
        "local_discovery": False,
        "version": VERSION,
    }
    graph = (await client.get("/api/p2p/network-graph", headers=headers)).json()
    assert [(n["id"], n["node_type"]) for n in graph["nodes"]] == [("self", "self")]
    assert graph["links"] == []

    # Routes that need the node say so; the registry and the block list still work.
    peer = random_node_id()
    assert_error(await client.post(PEERS, json={"node_id": peer}, headers=headers), 503, "p2p_disabled")
    assert_error(await client.post(f"{PEERS}/{peer}/ping", headers=headers), 503, "p2p_disabled")
    assert (await client.get(PEERS, headers=headers)).json() == []
    async with context_of(app).db.transaction() as session:
        session.add(Peer(node_id=peer, source="manual", addresses=[]))
    listed = (await client.get(PEERS, headers=headers)).json()
    assert [p["node_id"] for p in listed] == [peer]
    assert (await client.get("/api/p2p/status", headers=headers)).json()["peer_count"] == 1
    assert (await client.delete(f"{PEERS}/{peer}", headers=headers)).status_code == 204
    assert (await client.get(PEERS, headers=headers)).json() == []

    response = await client.post(BLOCKS, json={"domain": peer}, headers=headers)
    assert response.status_code == 201, response.text
    assert (await client.get(f"{BLOCKS}/export", headers=headers)).json() == [{"domain": peer, "reason": None}]
    assert (await client.delete(f"{BLOCKS}/{response.json()['id']}", headers=headers)).status_code == 204
