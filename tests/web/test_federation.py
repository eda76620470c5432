"""Two federated `soundtime serve` instances, the listener on the second: a friend's track plays in the browser, a
network search result plays and lands in the library, and the player says why a remote track cannot play (410
dereferenced, 503 peer unreachable) instead of hanging. The tests run in order; the last one stops the friend."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.p2p.conftest import eventually
from tests.support.api import DEFAULT_PASSWORD
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
from tests.support.serve import QUICK_FAILURES, Server
from tests.web.conftest import StartServer, audio_time

ARTIST = "Marisol & the Wires"
TITLES = ("Low Tide", "Copper Sky", "Lighthouse", "Night Ferry", "Salt Road")


@dataclass
class Network:
    """The friend's instance (``a``, which has the music) and ours (``b``, which replicated its catalogue)."""

    a: Server
    b: Server
    a_headers: dict[str, str]
    b_headers: dict[str, str]

    async def on_b(self, method: str, path: str) -> httpx.Response:
        """An API call to B as its administrator."""
        async with httpx.AsyncClient(base_url=self.b.url, headers=self.b_headers, timeout=30) as http:
            return await http.request(method, path)

    async def b_track(self, title: str) -> dict[str, Any]:
        tracks = (await self.on_b("GET", "/api/tracks?limit=200")).json()["items"]
        [track] = [t for t in tracks if t["title"] == title]
        return dict(track)


def _admin(server: Server) -> dict[str, str]:
    body = {"username": "admin", "password": DEFAULT_PASSWORD}
    response = httpx.post(f"{server.url}/api/auth/register", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _until(check: Any, what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {within} s")


@pytest.fixture(scope="module")
def network(serve: StartServer, audio: AudioFactory, tmp_path_factory: pytest.TempPathFactory) -> Network:
    # The last test stops A (QUICK_FAILURES); a search filter is rebuilt 1 s after a library change instead of 5 s.
    a, b = serve.many(2, P2P_ENABLED="true", P2P_TIMINGS=f"{QUICK_FAILURES},filter_rebuild_delay=1")
    a_headers, b_headers = _admin(a), _admin(b)
    folder = tmp_path_factory.mktemp("friend")
    cover = make_cover_png(9, size=32)
    for number, title in enumerate(TITLES, start=1):
        spec = TrackSpec(
            title=title, artist=ARTIST, album="Harbour Lights", track_number=number, cover=cover, duration=8.0
        )
        path = audio.make(folder / f"{number}.ogg", "ogg", spec)
        with path.open("rb") as handle:
            uploaded = httpx.post(f"{a.url}/api/upload", files={"file": handle}, headers=a_headers, timeout=60)
        assert uploaded.status_code == 201, uploaded.text
    status = httpx.get(f"{a.url}/api/p2p/status", headers=a_headers).json()
    address = f"{status['node_id']}@127.0.0.1:{status['listen_ports'][0]}"
    # A rebuilds its search filter 1 s after its library changed; B gets it in A's answer to B's first contact
    # (A's next broadcast would come only a minute after its start-up one).
    time.sleep(2)
    added = httpx.post(f"{b.url}/api/admin/p2p/peers", json={"node_id": address}, headers=b_headers, timeout=30)
    assert added.status_code == 201, added.text
    net = Network(a, b, a_headers, b_headers)

    def replicated() -> bool:
        items = httpx.get(f"{b.url}/api/tracks", headers=b_headers).json()["items"]
        return len(items) == len(TITLES) and not any(t["is_local"] for t in items)

    _until(replicated, "B replicated A's catalogue")
    return net


async def _listener(new_tab: Any, network: Network) -> tuple[Any, Page]:
    """A signed-in tab on B, and its page."""
    tab = await new_tab(network.b.url)
    await tab.sign_in("admin")
    return tab, tab.page


async def test_a_friends_track_plays_in_the_browser(network: Network, new_tab: Any) -> None:
    tab, page = await _listener(new_tab, network)
    tracks = page.get_by_role("list", name="Tracks")
    await expect(tracks.get_by_role("listitem")).to_have_count(len(TITLES))
    await expect(tracks.get_by_title("Streams from a peer")).to_have_count(len(TITLES))
    await tab.check("tracks-remote")

    await page.get_by_role("button", name=f"Play Low Tide by {ARTIST}").click()
    player = page.get_by_role("region", name="Player")
    await expect(player).to_contain_text("Low Tide")
    await audio_time(page, beyond=1.5)
    await expect(player.get_by_role("status")).to_contain_text("From a peer")
    await tab.check("player-remote")


async def test_a_network_search_result_plays_and_is_then_in_the_library(network: Network, new_tab: Any) -> None:
    # B forgets two of A's tracks: they are now only on the network.
    for title in ("Lighthouse", "Night Ferry"):
        track = await network.b_track(title)
        deleted = await network.on_b("DELETE", f"/api/tracks/{track['id']}")
        assert deleted.status_code == 204, deleted.text

    # A's search filter, with these words, has reached B.
    async def filter_arrived() -> bool:
        body = (await network.on_b("GET", "/api/p2p/search?q=lighthouse")).json()
        return bool(body["peers_asked"])

    await eventually(filter_arrived, within=30, interval=1)

    tab, page = await _listener(new_tab, network)
    await page.get_by_role("link", name="Search").first.click()
    box = page.get_by_label("Search for tracks, albums and artists")
    await box.fill("lighthouse")
    await expect(page.get_by_text("Nothing in your library matches")).to_be_visible()
    await box.press("Enter")
    results = page.get_by_role("region", name="On the network")
    hit = results.get_by_role("listitem").filter(has_text="Lighthouse")
    await expect(hit).to_contain_text("on 1 peer", timeout=20_000)
    await expect(results).to_contain_text("1 of 1 peer answered")
    await tab.check("search-network")

    await hit.get_by_role("button", name="Play Lighthouse").click()
    player = page.get_by_role("region", name="Player")
    await expect(player).to_contain_text("Lighthouse")
    await audio_time(page, beyond=1.5)
    await expect(hit).to_contain_text("in your library")
    assert (await network.b_track("Lighthouse"))["is_local"] is False  # imported as a replicated track

    # Import without playing: the result joins the library, the player is not touched.
    await box.fill("ferry")
    await box.press("Enter")
    ferry = results.get_by_role("listitem").filter(has_text="Night Ferry")
    await ferry.get_by_role("button", name="Import Night Ferry").click()
    await expect(ferry).to_contain_text("in your library")
    await expect(player).to_contain_text("Lighthouse")
    assert (await network.b_track("Night Ferry"))["title"] == "Night Ferry"


async def test_a_dereferenced_track_says_so(network: Network, new_tab: Any) -> None:
    track = await network.b_track("Copper Sky")
    dereferenced = await network.on_b("PATCH", f"/api/admin/p2p/tracks/{track['id']}/dereference")
    assert dereferenced.status_code == 200, dereferenced.text

    tab, page = await _listener(new_tab, network)
    await page.get_by_role("button", name=f"Play Copper Sky by {ARTIST}").click()
    player = page.get_by_role("region", name="Player")
    await expect(player.get_by_role("status")).to_contain_text("No peer holds this track any more")
    await expect(player.get_by_role("button", name="Play", exact=True)).to_be_visible()
    await tab.check("player-dereferenced")


async def test_an_unreachable_peer_is_shown_not_a_silent_stop(network: Network, new_tab: Any) -> None:
    network.a.stop()  # the only peer holding "Salt Road", which B never fetched
    tab, page = await _listener(new_tab, network)
    await page.get_by_role("button", name=f"Play Salt Road by {ARTIST}").click()
    status = page.get_by_role("region", name="Player").get_by_role("status")
    await expect(status).to_contain_text("Fetching from a peer")
    await expect(status).to_contain_text("The peer holding this track is unreachable", timeout=60_000)
    await expect(status).to_contain_text("no peer could provide this track")  # the server's reason, kept
    await tab.check("player-peer-unavailable")
