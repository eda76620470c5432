"""Polling the graph, status and peers cheaply: strong ETags over the content, 304 when nothing changed."""

from __future__ import annotations

from typing import Any

from tests.p2p.conftest import Instance, eventually
from tests.p2p.test_admin_api import assert_error

GRAPH = "/api/p2p/network-graph"


async def test_an_unchanged_graph_costs_a_304_and_a_change_a_new_etag(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    b: Instance = await start_instance("b")
    first = await a.client.get(GRAPH, headers=a.headers)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong
    assert first.headers["cache-control"] == "private, no-cache"
    assert [n["node_type"] for n in first.json()["nodes"]] == ["self"]

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await a.client.get(GRAPH, headers={**a.headers, "If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    assert (await a.client.get(GRAPH, headers={**a.headers, "If-None-Match": '"other"'})).status_code == 200
    # The ETag never stands in for authentication.
    assert_error(await a.client.get(GRAPH, headers={"If-None-Match": etag}), 401, "unauthorized")

    added = await a.client.post("/api/admin/p2p/peers", json={"node_id": b.dial_address()}, headers=a.headers)
    assert added.status_code == 201

    async def changed() -> Any:
        response = await a.client.get(GRAPH, headers={**a.headers, "If-None-Match": etag})
        return response if response.status_code == 200 else None

    response = await eventually(changed)
    assert response.headers["etag"] != etag
    assert b.node_id in {n["id"] for n in response.json()["nodes"]}
    assert {"source": a.node_id, "target": b.node_id, "link_type": "direct"} in response.json()["links"]
    # The same content always has the same tag (no time or order in it).
    repeat = await a.client.get(GRAPH, headers=a.headers)
    assert repeat.headers["etag"] == response.headers["etag"]
    assert repeat.content == response.content


async def test_status_and_peers_answer_304_when_unchanged(start_instance: Any) -> None:
    a: Instance = await start_instance("a")
    for path in ("/api/p2p/status", "/api/admin/p2p/peers"):
        first = await a.client.get(path, headers=a.headers)
        assert first.status_code == 200, first.text
        again = await a.client.get(path, headers={**a.headers, "If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
    assert (await a.client.get("/api/admin/p2p/peers", headers=a.headers)).json() == []
    status = (await a.client.get("/api/p2p/status", headers=a.headers)).json()
    assert status["node_id"] == a.node_id
