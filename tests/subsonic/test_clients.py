"""Real client libraries from PyPI against a live server: py-opensonic (token, legacy ``p=enc:`` and API-key
authentication) and py-sonic, browsing, searching, streaming, starring, scrobbling, playlists and the play queue.
Both speak JSON (and POST forms by default); the XML is checked in test_xml."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import libsonic
import pytest
from libopensonic import AsyncConnection

from tests.subsonic.conftest import Account, Library

T = TypeVar("T")


def split(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.port is not None
    return f"{parts.scheme}://{parts.hostname}", parts.port


@pytest.fixture
async def opensonic(library: Library, live_server: str) -> AsyncIterator[Callable[..., AsyncConnection]]:
    """``opensonic(account, **options)`` makes a py-opensonic connection to the live server."""
    base, port = split(live_server)
    made: list[AsyncConnection] = []

    def connect(account: Account, *, api_key: bool = False, legacy: bool = False) -> AsyncConnection:
        if api_key:
            conn = AsyncConnection(base, port=port, api_key=account.api_key, app_name="py-opensonic-test")
        else:
            conn = AsyncConnection(
                base,
                account.username,
                account.app_password,
                port=port,
                legacy_auth=legacy,
                app_name="py-opensonic-test",
            )
        made.append(conn)
        return conn

    yield connect
    for conn in made:
        await conn.cleanup()


async def test_py_opensonic_browses_searches_streams_and_annotates(
    library: Library, opensonic: Callable[..., AsyncConnection]
) -> None:
    conn = opensonic(library.alice)
    assert await conn.ping()
    artists = await conn.get_artists()
    by_name = {a.name: a for index in artists.index or [] for a in index.artist or []}
    assert set(by_name) == {"Nova", "The Marées", "Zed"}
    artist = await conn.get_artist(by_name["Nova"].id)
    [album_ref] = artist.album or []
    album = await conn.get_album(album_ref.id)
    assert [s.title for s in album.song or []] == ["Intro", "Dawn"]
    song = await conn.get_song((album.song or [])[0].id)
    assert (song.title, song.suffix, song.album, song.artist) == ("Intro", "flac", "First Light", "Nova")

    found = await conn.search3("harbour")
    assert [s.title for s in found.song or []] == ["Harbour"]
    everything = await conn.search3("", song_count=500)
    assert len(everything.song or []) == 5

    response = await conn.stream(song.id, tformat="raw")
    assert await response.read() == library.files["Intro"].read_bytes()
    ranged = await conn.stream(song.id, byte_range="bytes=4-11")
    assert ranged.status == 206
    assert await ranged.read() == library.files["Intro"].read_bytes()[4:12]
    cover = await conn.get_cover_art(album.cover_art or "", size=32)
    assert cover.headers["Content-Type"] == "image/jpeg"

    assert await conn.star(sids=[song.id], album_ids=[album.id])
    starred = await conn.get_starred2()
    assert [s.id for s in starred.song or []] == [song.id]
    assert [a.id for a in starred.album or []] == [album.id]
    assert await conn.unstar(album_ids=[album.id])
    assert await conn.scrobble(song.id)
    assert (await conn.get_song(song.id)).play_count == 1
    recent = await conn.get_album_list2("recent")
    assert [a.id for a in recent] == [album.id]


async def test_py_opensonic_playlists_and_play_queue(
    library: Library, opensonic: Callable[..., AsyncConnection]
) -> None:
    conn = opensonic(library.alice)
    ids = [library.sid(t) for t in ("Tide", "Dawn", "Harbour")]
    await conn.create_playlist(name="Evening", song_ids=ids)
    [listed] = await conn.get_playlists()
    assert (listed.name, listed.song_count, listed.owner) == ("Evening", 3, "alice")
    assert await conn.update_playlist(
        listed.id, name="Late", song_ids_to_add=[library.sid("Intro")], song_indices_to_remove=[1]
    )
    playlist = await conn.get_playlist(listed.id)
    assert playlist.name == "Late"
    assert [e.title for e in playlist.entry or []] == ["Tide", "Harbour", "Intro"]
    assert await conn.delete_playlist(listed.id)
    assert await conn.get_playlists() == []

    assert await conn.save_play_queue(ids, current=ids[1], position=90_500)
    other_device = opensonic(library.alice, api_key=True)
    queue = await other_device.get_play_queue()
    assert [e.id for e in queue.entry or []] == ids
    assert (queue.current, queue.position, queue.username) == (ids[1], 90_500, "alice")


async def test_py_opensonic_legacy_password_and_api_key_authentication(
    library: Library, opensonic: Callable[..., AsyncConnection]
) -> None:
    legacy = opensonic(library.bob, legacy=True)  # p=enc:<hex>
    assert await legacy.ping()
    assert len((await legacy.search3("nova")).song or []) == 2
    keyed = opensonic(library.bob, api_key=True)
    assert await keyed.ping()
    assert (await keyed.token_info()).username == "bob"
    extensions = {e.name for e in await keyed.get_open_subsonic_extensions()}
    assert {"apiKeyAuthentication", "formPost"} <= extensions


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """py-sonic blocks: call it off the event loop that serves it."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def test_py_sonic_walks_the_library_and_keeps_a_playlist_and_a_queue(library: Library, live_server: str) -> None:
    base, port = split(live_server)
    conn = libsonic.Connection(base, "alice", library.alice.app_password, port=port, appName="py-sonic-test")
    assert await in_thread(conn.ping)
    artists = (await in_thread(conn.getArtists))["artists"]["index"]
    marees = next(a for index in artists for a in index["artist"] if a["name"] == "The Marées")
    artist = (await in_thread(conn.getArtist, marees["id"]))["artist"]
    album = (await in_thread(conn.getAlbum, artist["album"][0]["id"]))["album"]
    assert [s["title"] for s in album["song"]] == ["Tide", "Harbour"]
    tide = (await in_thread(conn.getSong, album["song"][0]["id"]))["song"]
    assert tide["path"] == "The Marées/Coast/01 - Tide.mp3"
    found = (await in_thread(conn.search3, "tide"))["searchResult3"]
    assert [s["id"] for s in found["song"]] == [tide["id"]]
    stream = await in_thread(conn.stream, tide["id"], tformat="raw")
    assert await in_thread(stream.read) == library.files["Tide"].read_bytes()

    assert (await in_thread(conn.star, sids=[tide["id"]]))["status"] == "ok"
    assert (await in_thread(conn.scrobble, tide["id"]))["status"] == "ok"
    assert (await in_thread(conn.getSong, tide["id"]))["song"]["playCount"] == 1
    starred = (await in_thread(conn.getStarred2))["starred2"]
    assert [s["id"] for s in starred["song"]] == [tide["id"]]

    created = await in_thread(conn.createPlaylist, name="Shore", songIds=[tide["id"], library.sid("Loose")])
    pid = created["playlist"]["id"]
    await in_thread(conn.updatePlaylist, pid, songIndexesToRemove=[0], songIdsToAdd=[library.sid("Dawn")])
    entries = (await in_thread(conn.getPlaylist, pid))["playlist"]["entry"]
    assert [e["title"] for e in entries] == ["Loose", "Dawn"]
    assert (await in_thread(conn.deletePlaylist, pid))["status"] == "ok"

    await in_thread(conn.savePlayQueue, [tide["id"], library.sid("Dawn")], current=library.sid("Dawn"), position=5)
    queue = (await in_thread(conn.getPlayQueue))["playQueue"]
    assert [e["id"] for e in queue["entry"]] == [tide["id"], library.sid("Dawn")]
    assert (queue["current"], queue["position"]) == (library.sid("Dawn"), 5)
