"""The admin pages of two federated `soundtime serve` instances, driven as an administrator of B would: add A by
its ticket on the overview, see both nodes and their link in the graph, block and unblock A from the graph, ping,
re-sync with progress, follow the federation's log, dereference and re-reference a replicated track.

The tests run in order on one pair of instances (each leaves the network as the next expects it)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.api import DEFAULT_PASSWORD
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.serve import Server
from tests.web.conftest import StartServer

TITLES = ("Low Tide", "Copper Sky", "Lighthouse")
#: Pages refresh by polling (graph every 3 s, peer list 5 s): allow a few rounds.
LIVE = 20_000


def short(node_id: str) -> str:
    """How the pages name an unnamed peer."""
    return f"{node_id[:8]}…{node_id[-4:]}"


@dataclass
class Pair:
    """A (the friend, with music) and B (ours, where the browser signs in)."""

    a: Server
    b: Server
    a_id: str
    b_id: str
    a_headers: dict[str, str]
    b_headers: dict[str, str]
    folder: Path
    audio: AudioFactory

    async def on_b(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An API call to B as its administrator."""
        async with httpx.AsyncClient(base_url=self.b.url, headers=self.b_headers, timeout=30) as http:
            return await http.request(method, path, **kwargs)

    async def upload(self, server: Server, headers: dict[str, str], title: str) -> None:
        spec = TrackSpec(title=title, artist="Marisol & the Wires", album="Harbour Lights", duration=4.0)
        data = self.audio.make(self.folder / f"{title}.ogg", "ogg", spec).read_bytes()
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
            answer = await http.post("/api/upload", files={"file": (f"{title}.ogg", data)})
        assert answer.status_code == 201, answer.text


async def _first_admin(server: Server) -> tuple[dict[str, str], str]:
    """Register the administrator of a new instance: its Authorization header, and the instance's node id."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        answer = await http.post("/api/auth/register", json={"username": "admin", "password": DEFAULT_PASSWORD})
        assert answer.status_code == 201, answer.text
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        status = await http.get("/api/p2p/status", headers=headers)
    return headers, status.json()["node_id"]


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: not within {within} s")


@pytest.fixture(scope="module")
async def pair(serve: StartServer, audio: AudioFactory, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    # LOG_LEVEL=info: the log page shows what the server's level lets through.
    a, b = serve.many(2, P2P_ENABLED="true", LOG_LEVEL="info")
    (a_headers, a_id), (b_headers, b_id) = await _first_admin(a), await _first_admin(b)
    net = Pair(a, b, a_id, b_id, a_headers, b_headers, tmp_path_factory.mktemp("admin-audio"), audio)
    for title in TITLES:
        await net.upload(a, a_headers, title)
    return net


async def _admin_tab(new_tab: Any, pair: Pair, route: str) -> tuple[Any, Page]:
    tab = await new_tab(pair.b.url)
    await tab.sign_in("admin")
    await tab.open(route)
    return tab, tab.page


def _node(page: Page, node_id: str) -> Locator:
    """A node of the graph (click its disc: the label beside it does not take the pointer)."""
    return page.locator(f'svg g.node[data-id="{node_id}"]')


async def _settled(nodes: list[Locator]) -> list[str | None]:
    """The nodes' positions once the layout stopped moving them (two equal readings half a second apart)."""
    last: list[str | None] = []
    for _ in range(40):
        now = [await node.get_attribute("transform") for node in nodes]
        if now == last:
            return now
        last = now
        await asyncio.sleep(0.5)
    raise AssertionError(f"the graph kept moving: {last}")


async def test_the_overview_shows_the_node_and_adds_a_peer_by_its_ticket(pair: Pair, new_tab: Any) -> None:
    status = (await pair.on_b("GET", "/api/p2p/status")).json()
    tab, page = await _admin_tab(new_tab, pair, "/admin")
    await expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    await expect(page.get_by_text(pair.b_id, exact=True)).to_be_visible()
    await expect(page.get_by_label("Ticket", exact=True)).to_have_text(status["ticket"])
    qr = page.get_by_role("img", name=re.compile("^QR code of this instance.s ticket$"))
    assert len(await qr.locator("path").get_attribute("d") or "") > 500
    await expect(page.get_by_role("button", name="Copy the ticket")).to_be_visible()

    field = page.get_by_label("Node id, id@ip:port or ticket")
    await field.fill("hello")
    await expect(page.get_by_text("This is not a node id, id@ip:port or ticket")).to_be_visible()
    await page.get_by_role("button", name="Add peer").click()
    await expect(page.get_by_role("alert")).to_contain_text("Not added: a node id is 64 hexadecimal characters")

    async with httpx.AsyncClient(base_url=pair.a.url, headers=pair.a_headers) as http:
        a_ticket = (await http.get("/api/p2p/status")).json()["ticket"]
    await field.fill(a_ticket)
    await expect(page.get_by_text("A ticket: it carries the node id")).to_be_visible()
    await page.get_by_role("button", name="Add peer").click()
    await expect(page.get_by_role("status").filter(has_text="Added")).to_contain_text(
        "it answered and has 3 tracks", timeout=LIVE
    )
    peers = (await pair.on_b("GET", "/api/admin/p2p/peers")).json()
    assert [(p["node_id"], p["source"], p["is_online"]) for p in peers] == [(pair.a_id, "manual", True)]
    # The overview's counts follow (the node's state is polled with its ETag).
    await expect(page.get_by_role("link", name="1 of 1")).to_be_visible(timeout=LIVE)
    await tab.check("admin-overview")

    async def replicated() -> bool:
        tracks = (await pair.on_b("GET", "/api/admin/remote-tracks")).json()["items"]
        return len(tracks) == len(TITLES)

    await _eventually(replicated, "B replicated A's catalogue")


async def test_the_graph_shows_both_nodes_and_their_link(pair: Pair, new_tab: Any) -> None:
    tab, page = await _admin_tab(new_tab, pair, "/admin/graph")
    me, friend = _node(page, pair.b_id), _node(page, pair.a_id)
    await expect(me).to_have_attribute("data-kind", "self")
    await expect(friend).to_have_attribute("data-kind", "peer")
    await expect(friend).to_have_attribute("data-online", "true")
    direct = page.locator('svg g.links path[data-kind="direct"]')
    await expect(direct).to_have_attribute("data-links", f"{pair.b_id}>{pair.a_id}")
    assert re.fullmatch(r"M-?[\d.]+ -?[\d.]+L-?[\d.]+ -?[\d.]+", await direct.get_attribute("d") or "")
    nodes = page.get_by_role("list", name="Nodes")
    await expect(nodes.get_by_role("button")).to_have_count(2)
    await expect(nodes.get_by_role("button", name=re.compile("peer · online · 3 tracks"))).to_be_visible()
    await tab.check("admin-graph")

    # Drag pins a node where it is dropped; double-click releases it.
    disc = friend.locator("circle.body")
    box = await disc.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + 60, y + 30, steps=8)
    await page.mouse.up()
    await expect(friend.locator("circle.pin")).not_to_have_attribute("display", "none")
    await disc.dblclick()
    await expect(friend.locator("circle.pin")).to_have_attribute("display", "none")
    await page.get_by_role("button", name="All nodes").click()  # the clicks also opened its details

    # A refresh that only changes facts (A now has 4 tracks) restyles; it moves no node.
    before = await _settled([me, friend])
    await pair.upload(pair.a, pair.a_headers, "Salt Road")
    assert (await pair.on_b("POST", f"/api/admin/p2p/peers/{pair.a_id}/ping")).json()["track_count"] == 4
    await expect(nodes.get_by_role("button", name=re.compile("4 tracks"))).to_be_visible(timeout=LIVE)
    assert [await me.get_attribute("transform"), await friend.get_attribute("transform")] == before


async def test_a_peer_is_blocked_and_unblocked_from_the_graph(pair: Pair, new_tab: Any) -> None:
    tab, page = await _admin_tab(new_tab, pair, "/admin/graph")
    friend = _node(page, pair.a_id)
    await friend.locator("circle.body").click()
    details = page.get_by_role("complementary", name="Node details")
    label = short(pair.a_id)
    await expect(details.get_by_role("heading")).to_have_text(label)
    await details.get_by_role("button", name="Block").click()

    dialog = page.get_by_role("dialog", name=f"Block {label}?")
    await dialog.get_by_label("Reason (optional, kept with the block)").fill("testing the panel")
    await dialog.get_by_role("button", name="Block").click()
    await expect(friend).to_have_attribute("data-kind", "blocked", timeout=LIVE)
    await expect(details).to_contain_text(f"Blocked {label}.")
    await expect(details).to_contain_text("testing the panel")
    blocks = (await pair.on_b("GET", "/api/admin/blocked-domains")).json()
    assert [(b["domain"], b["reason"]) for b in blocks] == [(pair.a_id, "testing the panel")]
    refused = await pair.on_b("POST", f"/api/admin/p2p/peers/{pair.a_id}/ping")
    assert refused.json()["error"]["code"] == "peer_blocked"
    await tab.check("admin-graph-blocked")

    await details.get_by_role("button", name="Unblock").click()
    await expect(friend).to_have_attribute("data-kind", "peer", timeout=LIVE)
    await expect(details).to_contain_text(f"Lifted the block on {label}.")
    assert (await pair.on_b("GET", "/api/admin/blocked-domains")).json() == []

    # Back to the list: focus returns to the node the details were about.
    await details.get_by_role("button", name="All nodes").click()
    await expect(page.get_by_role("button", name=re.compile(f"^{re.escape(label)}:"))).to_be_focused()


async def test_the_peer_list_pings(pair: Pair, new_tab: Any) -> None:
    tab, page = await _admin_tab(new_tab, pair, "/admin/peers")
    row = page.get_by_role("row").filter(has_text=pair.a_id[:8])
    await row.get_by_role("button", name=f"Ping {short(pair.a_id)}").click()
    await expect(row.get_by_role("status")).to_contain_text(re.compile(r"Answered in \d+ ms \(4 tracks"))
    await expect(row).to_contain_text("online", timeout=LIVE)
    await tab.check("admin-peers")


async def test_a_resync_shows_its_progress(pair: Pair, new_tab: Any) -> None:
    tab, page = await _admin_tab(new_tab, pair, "/admin/sync")
    row = page.get_by_role("row").filter(has_text=pair.a_id[:8])
    await expect(row.get_by_role("cell").nth(1)).to_have_text("4")  # announced
    await row.get_by_role("button", name=re.compile("^Re-sync")).click()
    await expect(row).to_contain_text(re.compile(r"Re-sync done: 4 of 4 tracks · \d+ pages?"), timeout=LIVE)

    # A re-sync started elsewhere meanwhile (A now ignores catalogue requests from B for a minute, so it keeps
    # running): the page says so and follows it instead of failing.
    started = await pair.on_b("POST", f"/api/admin/p2p/library-sync/{pair.a_id}")
    assert started.status_code == 202, started.text
    await row.get_by_role("button", name=re.compile("^Re-sync")).click()
    await expect(row).to_contain_text("A re-sync of this peer was already running: following it.")
    await expect(row).to_contain_text(re.compile(r"Re-sync running: 0 of 4 tracks · 0 pages"))
    await expect(row.get_by_role("progressbar", name="Re-sync progress")).to_be_visible()
    await expect(row.get_by_role("button", name=re.compile("^Syncing…"))).to_be_disabled()
    await tab.check("admin-sync")


async def test_the_log_shows_the_federation_and_follows_it(pair: Pair, new_tab: Any) -> None:
    tab, page = await _admin_tab(new_tab, pair, "/admin/logs")
    log = page.get_by_role("log", name="P2P log entries")
    await expect(log).to_contain_text(f"p2p node {pair.b_id} listening")
    await expect(log).to_contain_text("search filter:")
    await tab.check("admin-logs")

    level = page.get_by_label("Level")
    await level.select_option("error")
    await expect(page.locator("li.info")).to_have_count(0)
    await level.select_option("info")
    # The page shows the newest entries: on a busy pair the start-up line may have scrolled out by now.
    await expect(page.locator("li.info").first).to_be_visible()

    await page.get_by_role("button", name="Clear").click()
    await page.get_by_role("dialog", name="Clear the log?").get_by_role("button", name="Clear").click()
    await expect(page.get_by_text("No entries")).to_be_visible()
    assert (await pair.on_b("GET", "/api/admin/p2p/logs")).json()["entries"] == []

    # Live tail: B's own upload is announced to A, and the entry appears without a reload.
    await pair.upload(pair.b, pair.b_headers, "Harbour Bell")
    await expect(log).to_contain_text(re.compile(f"pushed \\d+ tracks? to {pair.a_id[:16]}"), timeout=LIVE)


async def test_a_remote_track_is_dereferenced_and_rereferenced(pair: Pair, new_tab: Any) -> None:
    tab, page = await _admin_tab(new_tab, pair, "/admin/tracks")
    row = page.get_by_role("row").filter(has_text="Low Tide")
    await expect(row).to_contain_text("healthy")
    await row.get_by_role("button", name="Dereference Low Tide").click()
    await expect(row).to_contain_text("dereferenced (by hand)")
    tracks = (await pair.on_b("GET", "/api/admin/remote-tracks?state=dereferenced")).json()["items"]
    assert [t["title"] for t in tracks] == ["Low Tide"]

    await page.get_by_label("Health state").select_option("dereferenced")
    await expect(page.get_by_role("row")).to_have_count(2)  # the header and Low Tide
    health = page.get_by_role("group", name="Health")
    await expect(health.get_by_role("button", name="1 dereferenced: show them")).to_be_visible()
    await tab.check("admin-tracks")

    await row.get_by_role("button", name="Re-reference Low Tide").click()
    await expect(page.get_by_text("No dereferenced tracks")).to_be_visible()
    assert (await pair.on_b("GET", "/api/admin/remote-tracks?state=dereferenced")).json()["items"] == []

    await health.get_by_role("button", name="Sweep now").click()
    await expect(health).to_contain_text(re.compile(r"Last sweep just now:\s+\d+ checked"), timeout=LIVE)
