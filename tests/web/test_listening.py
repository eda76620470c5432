"""The listener's own pages against a live instance: a playlist made, filled from the library (a button and drag and
drop), reordered by dragging and by keys, renamed, made public, played and deleted; favourites; the history of
what was played; app passwords and API keys shown once with a QR code, working on /rest/ and revoked. Each step
is checked on the page and in what the API then answers."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.api import DEFAULT_PASSWORD
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
from tests.support.serve import Server
from tests.web.conftest import StartServer, audio_time, login

ARTIST = "Ines Vale"
ALBUM = "Tidewater"
TITLES = ("North Light", "Slow Current", "Glass Harbour", "Evening Tide")


@pytest.fixture(scope="module")
def server(serve: StartServer, audio: AudioFactory, tmp_path_factory: pytest.TempPathFactory) -> Server:
    running = serve()
    registered = httpx.post(
        f"{running.url}/api/auth/register", json={"username": "admin", "password": DEFAULT_PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    folder = tmp_path_factory.mktemp("listening")
    cover = make_cover_png(3, size=32)
    for number, title in enumerate(TITLES, start=1):
        spec = TrackSpec(title=title, artist=ARTIST, album=ALBUM, track_number=number, cover=cover, duration=6.0)
        path = audio.make(folder / f"{number}.ogg", "ogg", spec)
        with path.open("rb") as handle:
            uploaded = httpx.post(f"{running.url}/api/upload", files={"file": handle}, headers=headers, timeout=60)
        assert uploaded.status_code == 201, uploaded.text
    return running


#: The administrator's Authorization header per server: signed in once (a sign-in costs an Argon2id hash of
#: 64 MiB; an access token lasts 15 minutes, longer than this module runs).
_admin_headers: dict[str, dict[str, str]] = {}


async def api(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An API call as the administrator (the listener of these tests)."""
    if server.url not in _admin_headers:
        _admin_headers[server.url] = await login(server.url, "admin")
    async with httpx.AsyncClient(base_url=server.url, headers=_admin_headers[server.url], timeout=30) as http:
        return await http.request(method, path, **kwargs)


async def titles(entries: Locator) -> list[str]:
    """The titles of a playlist's entries, in the page's order."""
    return [text.strip() for text in await entries.locator("li .title").all_text_contents()]


async def stored_titles(server: Server, playlist_id: str) -> list[str]:
    body = (await api(server, "GET", f"/api/playlists/{playlist_id}")).json()
    return [entry["track"]["title"] for entry in body["entries"]]


async def _open_album(page: Page) -> None:
    """The album's page, from the Albums list (the page before lists the album on every track row)."""
    await page.get_by_role("link", name="Albums").first.click()
    await expect(page.get_by_role("heading", name="Albums", level=1)).to_be_visible()
    await page.get_by_role("link", name=ALBUM).click()


async def expect_order(page: Page, server: Server, playlist_id: str, order: list[str]) -> None:
    """The page shows ``order`` and, once the page's changes reached it, the server stored the same."""
    entries = page.get_by_role("list", name="Tracks of")
    await expect(entries.locator("li .title")).to_have_text(order)
    for _ in range(50):
        if await stored_titles(server, playlist_id) == order:
            return
        await page.wait_for_timeout(100)
    assert await stored_titles(server, playlist_id) == order


async def test_a_playlist_is_made_filled_reordered_played_and_deleted(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await page.get_by_role("link", name="Playlists").first.click()
    await expect(page.get_by_text("No playlists yet")).to_be_visible()
    await tab.check("playlists-empty")

    await page.get_by_label("New playlist").fill("Road trip")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name="Road trip", level=1)).to_be_visible()
    playlist_id = page.url.rsplit("/", 1)[1]
    assert (await api(server, "GET", f"/api/playlists/{playlist_id}")).json()["name"] == "Road trip"
    await expect(page.get_by_text("No tracks yet")).to_be_visible()

    # From the library: the Add button (the keyboard's way), then drag and drop to a place.
    panel = page.get_by_role("list", name="Tracks to add")
    await panel.get_by_role("button", name="Add North Light to Road trip").click()
    await expect_order(page, server, playlist_id, ["North Light"])
    entries = page.get_by_role("list", name="Tracks of Road trip")
    first = entries.get_by_role("listitem").first
    await (
        panel.get_by_role("listitem").filter(has_text="Slow Current").drag_to(first, target_position={"x": 200, "y": 4})
    )
    await expect_order(page, server, playlist_id, ["Slow Current", "North Light"])
    await panel.get_by_role("button", name="Add Glass Harbour to Road trip").click()
    await expect_order(page, server, playlist_id, ["Slow Current", "North Light", "Glass Harbour"])

    # Reorder by dragging a row above the first one...
    rows = entries.get_by_role("listitem")
    await rows.nth(2).locator(".handle").drag_to(rows.first, target_position={"x": 200, "y": 4})
    await expect_order(page, server, playlist_id, ["Glass Harbour", "Slow Current", "North Light"])
    # ...and with the keyboard: the row's handle and the arrow keys.
    handle = page.get_by_role("button", name=re.compile(r"^Move Glass Harbour"))
    await handle.focus()
    await page.keyboard.press("ArrowDown")
    await expect(page.get_by_role("button", name="Move Glass Harbour, position 2 of 3")).to_be_focused()
    await page.keyboard.press("End")
    await expect_order(page, server, playlist_id, ["Slow Current", "North Light", "Glass Harbour"])
    await expect(page.get_by_role("status").filter(has_text="Moved Glass Harbour")).to_have_text(
        "Moved Glass Harbour to position 3 of 3."
    )

    await page.get_by_role("button", name="Remove North Light from this playlist").click()
    await expect_order(page, server, playlist_id, ["Slow Current", "Glass Harbour"])

    await page.get_by_role("button", name="Rename").click()
    await page.get_by_label("Name", exact=True).fill("Road trip 2026")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name="Road trip 2026", level=1)).to_be_visible()
    await page.get_by_label("Public").check()
    await expect(page.get_by_text("Public playlist")).to_be_visible()
    stored = (await api(server, "GET", f"/api/playlists/{playlist_id}")).json()
    assert (stored["name"], stored["public"]) == ("Road trip 2026", True)
    await tab.check("playlist")

    await page.get_by_role("main").get_by_role("button", name="Play", exact=True).click()
    player = page.get_by_role("region", name="Player")
    await expect(player).to_contain_text("Slow Current")
    await audio_time(page, beyond=1.0)

    await page.get_by_role("link", name="Playlists").first.click()
    card = page.get_by_role("list", name="Playlists").get_by_role("link", name="Road trip 2026")
    await expect(card).to_contain_text("2 tracks")
    await expect(card).to_contain_text("Public")
    await tab.check("playlists")

    # Exported as M3U8, and that file (plus an entry nothing matches) imported as a new playlist.
    await card.click()
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Export M3U").click()
    download = await downloading.value
    assert download.suggested_filename == "Road trip 2026.m3u8"
    exported = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    assert exported.startswith("#EXTM3U")
    assert [line.split(",", 1)[1] for line in exported.splitlines() if line.startswith("#EXTINF")] == [
        f"{ARTIST} - Slow Current",
        f"{ARTIST} - Glass Harbour",
    ]
    await page.get_by_role("link", name="Playlists").first.click()
    content = exported + "#EXTINF:200,Nobody - Not Here\nnot-here.mp3\n"
    await page.locator("#m3u-import").set_input_files(
        {"name": "Road trip copy.m3u8", "mimeType": "audio/x-mpegurl", "buffer": content.encode()}
    )
    result = page.get_by_role("status").filter(has_text="Imported")
    await expect(result).to_contain_text("Imported Road trip copy: 2 tracks found, 1 entry matched nothing")
    await result.get_by_text("Entries not found").click()
    await expect(result.get_by_role("listitem")).to_have_text(["Nobody - Not Here"])
    await expect(page.get_by_role("list", name="Playlists").get_by_role("link")).to_have_count(2)
    mine = (await api(server, "GET", "/api/playlists?mine=true")).json()["items"]
    copy_id = next(item["id"] for item in mine if item["name"] == "Road trip copy")
    assert await stored_titles(server, copy_id) == ["Slow Current", "Glass Harbour"]
    await tab.check("playlists-imported")

    await card.click()
    await page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete “Road trip 2026”?")
    await dialog.get_by_role("button", name="Delete").click()
    remaining = page.get_by_role("list", name="Playlists").get_by_role("link")
    await expect(remaining).to_have_count(1)
    await expect(remaining).to_contain_text("Road trip copy")
    assert (await api(server, "GET", f"/api/playlists/{playlist_id}")).status_code == 404


async def test_favourites_from_the_album_the_artist_and_the_player(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await _open_album(page)
    star = page.get_by_role("button", name=f"Favourite {ALBUM}")
    await expect(star).to_have_attribute("aria-pressed", "false")
    await star.click()
    await expect(star).to_have_attribute("aria-pressed", "true")
    albums = (await api(server, "GET", "/api/favourites/albums")).json()["items"]
    assert [item["album"]["title"] for item in albums] == [ALBUM]
    album_id = albums[0]["album"]["id"]

    # Rated 4 of 5, then cleared by choosing 4 again.
    rating = page.get_by_role("radiogroup", name=f"Your rating of {ALBUM}")
    await rating.locator("label").nth(3).click()
    await expect(rating.get_by_role("radio", name="4 stars")).to_be_checked()
    for _ in range(50):
        if (await api(server, "GET", f"/api/annotations/albums/{album_id}")).json()["rating"] == 4:
            break
        await page.wait_for_timeout(100)
    assert (await api(server, "GET", f"/api/annotations/albums/{album_id}")).json()["rating"] == 4
    await tab.check("album-rated")
    await rating.locator("label").nth(3).click()
    await expect(rating.get_by_role("radio", name="4 stars")).not_to_be_checked()
    for _ in range(50):
        if (await api(server, "GET", f"/api/annotations/albums/{album_id}")).json()["rating"] is None:
            break
        await page.wait_for_timeout(100)
    assert (await api(server, "GET", f"/api/annotations/albums/{album_id}")).json()["rating"] is None

    await page.get_by_role("button", name=f"Play North Light by {ARTIST}").click()
    await page.get_by_role("region", name="Player").get_by_role("button", name="Favourite North Light").click()
    await page.get_by_role("link", name=ARTIST).first.click()
    await page.get_by_role("button", name=f"Favourite {ARTIST}").click()
    await expect(page.get_by_role("button", name=f"Favourite {ARTIST}")).to_have_attribute("aria-pressed", "true")
    tracks = (await api(server, "GET", "/api/favourites/tracks")).json()["items"]
    assert [item["track"]["title"] for item in tracks] == ["North Light"]

    await page.get_by_role("link", name="Favourites").first.click()
    await expect(page.get_by_role("list", name="Favourite tracks").get_by_role("listitem")).to_have_count(1)
    await tab.check("favourites-tracks")
    await page.get_by_role("link", name="Albums", exact=True).last.click()
    await expect(page.get_by_role("list", name="Favourite albums")).to_contain_text(ALBUM)
    await tab.check("favourites-albums")
    await page.get_by_role("link", name="Artists", exact=True).last.click()
    favourite_artists = page.get_by_role("list", name="Favourite artists")
    await expect(favourite_artists).to_contain_text(ARTIST)

    # Taken out from the list itself.
    await favourite_artists.get_by_role("button", name=f"Favourite {ARTIST}").click()
    await expect(favourite_artists.get_by_role("button", name=f"Favourite {ARTIST}")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert (await api(server, "GET", "/api/favourites/artists")).json()["items"] == []


async def test_the_history_shows_what_was_played(server: Server, new_tab: Any) -> None:
    before = len((await api(server, "GET", "/api/history")).json()["items"])
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await page.get_by_role("button", name=f"Play Evening Tide by {ARTIST}").click()
    await audio_time(page, beyond=3.6, within=30)  # half of the 6 s track heard: it counts as played

    plays: list[Any] = []
    for _ in range(50):
        plays = (await api(server, "GET", "/api/history")).json()["items"]
        if len(plays) > before:
            break
        await page.wait_for_timeout(100)
    assert plays[0]["track"]["title"] == "Evening Tide"
    assert plays[0]["client"] == "web"

    await page.get_by_role("link", name="History").first.click()
    recent = page.get_by_role("list", name="Recently played tracks")
    await expect(recent.get_by_role("listitem").first).to_contain_text("Evening Tide")
    await expect(recent.get_by_role("listitem").first).to_contain_text("just now")
    await tab.check("history")
    await page.get_by_role("link", name="Most played").click()
    most = page.get_by_role("list", name="Most played tracks")
    await expect(most.get_by_role("listitem").filter(has_text="Evening Tide")).to_contain_text("1 play")
    await tab.check("history-most-played")


async def test_the_play_queue_is_saved_and_resumed_in_another_browser(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await _open_album(page)
    await page.get_by_role("button", name=f"Play Slow Current by {ARTIST}").click()
    await audio_time(page, beyond=2.0)
    player = page.get_by_role("region", name="Player")
    await player.get_by_role("button", name="Pause").click()

    saved: dict[str, Any] = {}
    for _ in range(50):
        saved = (await api(server, "GET", "/api/play-queue")).json()
        if saved["current_index"] == 1 and saved["position_ms"] >= 2000:
            break
        await page.wait_for_timeout(100)
    assert [track["title"] for track in saved["tracks"]] == list(TITLES)
    assert (saved["current_index"], saved["changed_by"]) == (1, "web")
    assert saved["position_ms"] >= 2000

    # Another browser (its own cookies) offers to resume it, and resumes at the saved position.
    other = await new_tab(server.url)
    await other.sign_in("admin")
    resume = other.page.get_by_role("region", name="Player").get_by_role("button", name="Resume “Slow Current”")
    await expect(resume).to_be_visible()
    await other.check("player-resume")
    await resume.click()
    await expect(other.page.get_by_role("region", name="Player")).to_contain_text("Slow Current")
    assert await other.page.evaluate("document.querySelector('audio').currentTime") >= saved["position_ms"] / 1000 - 0.1
    await other.page.get_by_role("region", name="Player").get_by_role("button", name="Play", exact=True).click()
    await audio_time(other.page, beyond=saved["position_ms"] / 1000 + 0.5)


async def rest_ping(server: Server, **credentials: str) -> dict[str, Any]:
    query = {"v": "1.16.1", "c": "test", "f": "json", **credentials}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        body: dict[str, Any] = (await http.get("/rest/ping", params=query)).json()["subsonic-response"]
    return body


async def test_app_passwords_and_api_keys_are_shown_once_with_a_qr_code(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await page.get_by_role("link", name="Your account").first.click()
    await expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    await expect(page.get_by_text("No app passwords yet")).to_be_visible()
    # The QR code carries the address the page was opened at: a loopback one is pointed out.
    await expect(page.get_by_role("note")).to_contain_text("works on this computer only")

    await page.get_by_label("Name of the device or app").first.fill("Phone (Symfonium)")
    await page.get_by_role("button", name="Create app password").click()
    secret = page.get_by_role("region", name="App password for “Phone (Symfonium)”")
    await expect(secret).to_be_visible()
    await expect(secret.get_by_role("img", name="QR code of the server address, your user name")).to_be_visible()
    values = await secret.locator("dd code").all_text_contents()
    assert values[:2] == [server.url, "admin"]
    password = values[2]
    assert (await rest_ping(server, u="admin", p=password))["status"] == "ok"
    listed = (await api(server, "GET", "/api/me/app-passwords")).json()
    assert [row["name"] for row in listed] == ["Phone (Symfonium)"]
    await tab.check("account-app-password")

    # Shown once: gone after "Done" and after a reload; the list keeps only the name.
    await secret.get_by_role("button", name="Done").click()
    await expect(secret).to_have_count(0)
    await page.reload()
    passwords = page.get_by_role("list", name="App passwords")
    await expect(passwords).to_contain_text("Phone (Symfonium)")
    assert password not in await page.content()

    await page.get_by_label("Name of the device or app").last.fill("Feishin")
    await page.get_by_role("button", name="Create API key").click()
    key_secret = page.get_by_role("region", name="API key for “Feishin”")
    await expect(key_secret.get_by_role("img", name="QR code of the server address and this API key")).to_be_visible()
    key = (await key_secret.locator("dd code").all_text_contents())[1]
    assert (await rest_ping(server, apiKey=key))["status"] == "ok"
    await expect(page.get_by_role("list", name="API keys")).to_contain_text(key[:6])

    await passwords.get_by_role("button", name="Revoke Phone (Symfonium)").click()
    await page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    await expect(page.get_by_text("No app passwords yet")).to_be_visible()
    assert (await api(server, "GET", "/api/me/app-passwords")).json() == []
    refused = await rest_ping(server, u="admin", p=password)
    assert (refused["status"], refused["error"]["code"]) == ("failed", 40)
    await tab.check("account")


async def test_phones_reach_every_section_through_more(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await page.set_viewport_size({"width": 360, "height": 740})
    tabs = page.get_by_role("navigation", name="Main")
    await expect(tabs.get_by_role("link")).to_have_text(["Tracks", "Albums", "Search", "Playlists", "More"])
    await tabs.get_by_role("link", name="More").click()
    more = page.get_by_role("list", name="More sections")
    await expect(more.get_by_role("link")).to_have_text(
        ["Artists", "Upload", "Favourites", "History", "Account", "Admin"]
    )
    await more.get_by_role("link", name="History").click()
    await expect(page.get_by_role("heading", name="History")).to_be_visible()
    await expect(tabs.get_by_role("link", name="More")).to_have_attribute("aria-current", "page")
    await tab.check("more")
