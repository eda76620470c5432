"""The listener's pages against a live instance: upload by drag and drop with the server's verdicts, the library
(tracks, albums with covers, artists, an album, an artist), local search, and the player; and the API docs."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Request, expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.api import DEFAULT_PASSWORD
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
from tests.support.serve import Server
from tests.web.conftest import StartServer, audio_time

ALBUM = "Paper Boats"
ARTIST = "The Quiet Harbour"


@pytest.fixture(scope="module")
def server(serve: StartServer) -> Server:
    running = serve()
    response = httpx.post(f"{running.url}/api/auth/register", json={"username": "admin", "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.text
    return running


@pytest.fixture(scope="module")
def files(audio: AudioFactory, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What the listener drops: three tagged tracks, one of them again under another name, and two bad files."""
    folder = tmp_path_factory.mktemp("drop")
    cover = make_cover_png(5, size=32)

    def track(name: str, fmt: str, title: str, number: int) -> bytes:
        spec = TrackSpec(
            title=title, artist=ARTIST, album=ALBUM, track_number=number, cover=cover, duration=6.0, year=2019
        )
        return audio.make(folder / name, fmt, spec).read_bytes()

    harbour = track("harbour.mp3", "mp3", "Harbour Song", 1)
    mp3 = harbour[: len(harbour) // 3]
    return {
        "harbour.mp3": harbour,
        "driftwood.flac": track("driftwood.flac", "flac", "Driftwood", 2),
        "lanterns.ogg": track("lanterns.ogg", "ogg", "Lanterns", 3),
        "harbour (copy).mp3": harbour,
        "notes.txt": b"these are my notes, not music\n" * 20,
        "broken.mp3": mp3[:4096],
    }


async def test_the_docs_page_renders_from_local_files_only(server: Server, new_tab: Any) -> None:
    """The API docs work with no internet: Swagger UI's files come from this server, under a strict policy."""
    tab = await new_tab(server.url)
    elsewhere: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(server.url):
            elsewhere.append(request.url)

    tab.page.on("request", watch)
    await tab.page.goto(f"{server.url}/docs")
    await expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("soundtime")
    await expect(tab.page.get_by_text("/api/auth/login").first).to_be_visible()
    assert elsewhere == []
    await tab.check("docs", accessibility=False)  # Swagger UI's own markup is not ours to fix


async def drop(page: Page, target: str, files: dict[str, bytes]) -> None:
    """Dispatch a real drop on ``target``, its DataTransfer holding ``files`` (name -> bytes)."""
    payload = {name: base64.b64encode(data).decode() for name, data in files.items()}
    transfer = await page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, data] of Object.entries(files)) {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name));
            }
            return transfer;
        }""",
        payload,
    )
    for kind in ("dragenter", "dragover", "drop"):
        await page.dispatch_event(target, kind, {"dataTransfer": transfer})


async def test_dropped_files_show_progress_and_each_verdict(
    server: Server, new_tab: Any, files: dict[str, bytes]
) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await page.get_by_role("link", name="Upload").first.click()
    await tab.check("upload-empty")

    await drop(page, "[aria-label='Drop audio files here']", files)
    rows = page.locator("li.upload")
    await expect(rows).to_have_count(len(files))
    for name, verdict in [
        ("harbour.mp3", "Imported"),
        ("driftwood.flac", "Imported"),
        ("lanterns.ogg", "Imported"),
        ("harbour (copy).mp3", "Duplicate"),
        ("notes.txt", "Refused"),
        ("broken.mp3", "Refused"),
    ]:
        row = rows.filter(has_text=name)
        await expect(row.locator(".verdict .badge")).to_have_text(verdict, timeout=30_000)
    await expect(rows.filter(has_text="notes.txt").locator(".message")).to_contain_text("not")
    await expect(rows.filter(has_text="broken.mp3").locator(".message")).not_to_be_empty()
    await expect(page.get_by_role("status").filter(has_text="imported")).to_contain_text("3 imported")
    await tab.check("upload-verdicts")


async def test_the_library_pages_show_what_was_uploaded(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    tracks = page.get_by_role("list", name="Tracks")
    await expect(tracks.get_by_role("listitem")).to_have_count(3)
    await expect(tracks).to_contain_text("Lanterns")
    await tab.check("tracks")

    await page.get_by_role("link", name="Albums").first.click()
    card = page.get_by_role("article").filter(has_text=ALBUM)
    await expect(card).to_contain_text(f"{ARTIST} · 2019")
    cover = card.locator("img")
    await expect(cover).to_have_js_property("complete", True)
    assert await cover.evaluate("img => img.naturalWidth") == 32  # the embedded cover, served with ?token=
    await tab.check("albums")

    await card.get_by_role("link", name=ALBUM).click()
    await expect(page.get_by_role("heading", name=ALBUM)).to_be_visible()
    await expect(page.locator(".facts")).to_contain_text("2019 · 3 tracks · 18 s")
    await expect(page.locator(".tracks li")).to_have_count(3)
    await tab.check("album")

    await page.get_by_role("link", name=ARTIST).first.click()
    await expect(page.get_by_role("heading", name=ARTIST)).to_be_visible()
    await expect(page.get_by_text("1 album · 3 tracks")).to_be_visible()
    await tab.check("artist")

    await page.get_by_role("link", name="Artists").first.click()
    await expect(page.get_by_role("list", name="Artists").get_by_role("listitem")).to_have_count(1)
    await tab.check("artists")

    await page.get_by_role("link", name="Search").first.click()
    await page.get_by_label("Search for tracks, albums and artists").fill("drift")
    await expect(page.get_by_role("heading", name="Tracks")).to_be_visible()
    await expect(page.locator(".tracks")).to_contain_text("Driftwood")
    await expect(page).to_have_url(f"{server.url}/#/search?q=drift")
    await tab.check("search-local")


async def test_a_local_track_plays_and_the_player_controls_it(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    listed = page.get_by_role("list", name="Tracks").locator(".title")
    await expect(listed).to_have_count(3)  # the list has rendered (reading it does not wait)
    titles = await listed.all_text_contents()
    await page.get_by_role("button", name=f"Play {titles[0]} by {ARTIST}").click()
    player = page.get_by_role("region", name="Player")
    await expect(player).to_contain_text(titles[0])
    await audio_time(page, beyond=1)
    await expect(player.get_by_role("button", name="Pause")).to_be_visible()
    session = await page.evaluate("() => { const m = navigator.mediaSession.metadata; return [m.title, m.artist] }")
    assert session == [titles[0], ARTIST]  # lock screens and media keys see the track
    await tab.check("player-playing")

    # Keyboard: Space pauses (nothing focused), N moves to the next track of the list.
    await page.evaluate("document.activeElement.blur()")
    await page.keyboard.press("Space")
    await expect(player.get_by_role("button", name="Play", exact=True)).to_be_visible()
    assert await page.evaluate("document.querySelector('audio').paused")
    await page.keyboard.press("n")
    await expect(player).to_contain_text(titles[1])
    await audio_time(page, beyond=0.5)

    await player.get_by_role("button", name="Queue (3)").click()
    queue = page.get_by_role("dialog", name="Queue")
    await expect(queue.get_by_role("listitem")).to_have_count(3)
    await tab.check("queue")
    await page.keyboard.press("Escape")
    await expect(queue).to_be_hidden()


async def _add_artist_with_tracks(database_url: str, name: str, count: int) -> str:
    """An artist with ``count`` tracks titled "Song 001"… (rows only: these pages list tracks, nothing plays)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            artist = (
                await conn.execute(
                    text("INSERT INTO artists (id, name) VALUES (gen_random_uuid(), :n) RETURNING id"), {"n": name}
                )
            ).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_size) "
                    "SELECT gen_random_uuid(), 'Song ' || lpad(i::text, 3, '0'), :a, 60, 'mp3', "
                    "encode(sha256(convert_to(:n || i, 'UTF8')), 'hex'), 1000 FROM generate_series(1, :c) AS i"
                ),
                {"a": artist, "n": name, "c": count},
            )
    finally:
        await engine.dispose()
    return str(artist)


async def test_an_artist_with_many_tracks_pages_through_them(serve: StartServer, new_tab: Any) -> None:
    """The artist's first tracks come with the artist; "Show all" then loads the rest page by page."""
    server = serve()
    async with httpx.AsyncClient(base_url=server.url) as client:
        registered = await client.post("/api/auth/register", json={"username": "admin", "password": DEFAULT_PASSWORD})
    assert registered.status_code == 201, registered.text
    artist = await _add_artist_with_tracks(server.settings["DATABASE_URL"], "Prolific Player", 300)
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await tab.open(f"/artists/{artist}")
    tracks = page.get_by_role("list", name="Tracks")
    await expect(tracks.get_by_role("listitem")).to_have_count(10)

    await page.get_by_role("button", name="Show all 300").click()
    await expect(tracks.get_by_role("listitem")).to_have_count(250)  # the 50 that came with the artist, a page of 200
    await page.get_by_role("button", name="Show more (250 of 300)").click()
    await expect(tracks.get_by_role("listitem")).to_have_count(300)
    await expect(page.get_by_role("button", name=re.compile("Show more"))).to_be_hidden()
    titles = await tracks.locator(".title").all_text_contents()
    assert titles == [f"Song {i:03}" for i in range(1, 301)]  # in title order, each once
    await tab.check("artist-many-tracks")

    await page.get_by_role("button", name="Show fewer").click()
    await expect(tracks.get_by_role("listitem")).to_have_count(10)
