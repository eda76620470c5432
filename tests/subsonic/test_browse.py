"""Browsing, lists and search through /rest/ (JSON; the XML of every endpoint is checked in test_xml)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from tests.subsonic.conftest import Library


async def test_artists_albums_and_songs_by_tags(library: Library) -> None:
    artists = (await library.ok("getArtists"))["artists"]
    assert artists["ignoredArticles"] == "The El La Los Las Le Les"
    index = {group["name"]: [a["name"] for a in group["artist"]] for group in artists["index"]}
    assert index == {"M": ["The Marées"], "N": ["Nova"], "Z": ["Zed"]}  # "The" is not sorted or indexed on
    nova = artists["index"][1]["artist"][0]
    assert nova["albumCount"] == 1
    assert nova["coverArt"] == nova["id"]

    artist = (await library.ok("getArtist", id=nova["id"]))["artist"]
    assert artist["name"] == "Nova"
    [album] = artist["album"]
    assert album["name"] == "First Light"
    assert album["songCount"] == 2
    assert album["year"] == 2001
    assert album["artistId"] == nova["id"]

    full = (await library.ok("getAlbum", id=album["id"]))["album"]
    assert [s["title"] for s in full["song"]] == ["Intro", "Dawn"]
    intro = full["song"][0]
    uploaded = library.tracks["Intro"]
    assert intro["id"] == library.sid("Intro")
    assert intro["size"] == uploaded["file_size"] == library.files["Intro"].stat().st_size
    assert (intro["suffix"], intro["contentType"]) == ("flac", "audio/flac")
    assert intro["duration"] == round(uploaded["duration_secs"])
    assert (intro["track"], intro["year"], intro["genre"]) == (1, 2001, "Ambient")
    assert intro["albumId"] == album["id"]
    assert intro["parent"] == album["id"]
    assert intro["artistId"] == nova["id"]
    assert intro["coverArt"] == album["id"]
    assert intro["isDir"] is False
    assert (intro["type"], intro["mediaType"]) == ("music", "song")
    assert intro["samplingRate"] == 44100

    song = (await library.ok("getSong", id=intro["id"]))["song"]
    assert song == intro
    for missing in ("tr-00000000-0000-4000-8000-000000000000", "tr-nope", "al-" + uploaded["id"], "42", "../etc"):
        body = await library.json("getSong", id=missing)
        assert body["error"]["code"] == 70, missing
    assert (await library.json("getAlbum"))["error"]["code"] == 10


async def test_the_folder_view_is_artist_album_song(library: Library) -> None:
    indexes = (await library.ok("getIndexes"))["indexes"]
    assert indexes["lastModified"] > 0
    letters = [group["name"] for group in indexes["index"]]
    assert letters == ["M", "N", "Z"]
    later = (await library.ok("getIndexes", ifModifiedSince=indexes["lastModified"] + 1))["indexes"]
    assert later.get("index", []) == []  # nothing changed since

    folders = (await library.ok("getMusicFolders"))["musicFolders"]["musicFolder"]
    assert folders == [{"id": 1, "name": "Music"}]
    root = (await library.ok("getMusicDirectory", id="1"))["directory"]
    assert [c["title"] for c in root["child"]] == ["The Marées", "Nova", "Zed"]
    zed = root["child"][2]
    zed_dir = (await library.ok("getMusicDirectory", id=zed["id"]))["directory"]
    assert [(c["title"], c["isDir"]) for c in zed_dir["child"]] == [("Loose", False)]  # a track without album
    nova = (await library.ok("getMusicDirectory", id=root["child"][1]["id"]))["directory"]
    [album] = nova["child"]
    assert (album["title"], album["isDir"], album["parent"]) == ("First Light", True, root["child"][1]["id"])
    songs = (await library.ok("getMusicDirectory", id=album["id"]))["directory"]
    assert songs["parent"] == root["child"][1]["id"]
    assert [c["title"] for c in songs["child"]] == ["Intro", "Dawn"]
    assert (await library.json("getMusicDirectory", id="tr-" + library.tracks["Intro"]["id"]))["error"]["code"] == 70
    assert (await library.json("getIndexes", musicFolderId=7))["error"]["code"] == 70


async def test_genres(library: Library) -> None:
    genres = (await library.ok("getGenres"))["genres"]["genre"]
    assert genres == [
        {"songCount": 2, "albumCount": 1, "value": "Ambient"},
        {"songCount": 3, "albumCount": 1, "value": "Folk"},
    ]
    songs = (await library.ok("getSongsByGenre", genre="folk", count=2))["songsByGenre"]["song"]
    rest = (await library.ok("getSongsByGenre", genre="Folk", count=2, offset=2))["songsByGenre"]["song"]
    assert sorted(s["title"] for s in songs + rest) == ["Harbour", "Loose", "Tide"]


def names(body: dict[str, Any], key: str = "albumList2") -> list[str]:
    return [album.get("name") or album["title"] for album in body[key].get("album", [])]


async def test_every_album_list_type(library: Library) -> None:
    newest = await library.ok("getAlbumList2", type="newest")
    assert names(newest) == ["Coast", "First Light"]
    assert names(await library.ok("getAlbumList2", type="alphabeticalByName")) == ["Coast", "First Light"]
    assert names(await library.ok("getAlbumList2", type="alphabeticalByArtist")) == ["Coast", "First Light"]
    assert names(await library.ok("getAlbumList2", type="alphabeticalByName", size=1, offset=1)) == ["First Light"]
    assert names(await library.ok("getAlbumList2", type="byYear", fromYear=1990, toYear=2000)) == ["Coast"]
    assert names(await library.ok("getAlbumList2", type="byYear", fromYear=2010, toYear=1990)) == [
        "First Light",
        "Coast",
    ]
    assert names(await library.ok("getAlbumList2", type="byGenre", genre="ambient")) == ["First Light"]
    assert sorted(names(await library.ok("getAlbumList2", type="random"))) == ["Coast", "First Light"]
    for personal in ("starred", "highest", "frequent", "recent"):
        assert names(await library.ok("getAlbumList2", type=personal)) == [], personal

    coast = (await library.ok("getAlbumList2", type="newest"))["albumList2"]["album"][0]
    await library.ok("star", albumId=coast["id"])
    await library.ok("setRating", id=coast["id"], rating=4)
    await library.ok("scrobble", id=library.sid("Intro"))
    await library.ok("scrobble", id=library.sid("Dawn"))
    assert names(await library.ok("getAlbumList2", type="starred")) == ["Coast"]
    assert names(await library.ok("getAlbumList2", type="highest")) == ["Coast"]
    assert names(await library.ok("getAlbumList2", type="frequent")) == ["First Light"]
    assert names(await library.ok("getAlbumList2", type="recent")) == ["First Light"]
    assert names(await library.ok("getAlbumList2", type="starred", account=library.bob)) == []  # per user

    folder_view = await library.ok("getAlbumList", type="starred")
    assert [a["title"] for a in folder_view["albumList"]["album"]] == ["Coast"]
    assert folder_view["albumList"]["album"][0]["isDir"] is True
    assert (await library.json("getAlbumList2", type="mostPopular"))["error"]["code"] == 0
    assert (await library.json("getAlbumList2"))["error"]["code"] == 10
    assert (await library.json("getAlbumList2", type="byYear", fromYear=1))["error"]["code"] == 10
    assert (await library.json("getAlbumList2", type="byGenre"))["error"]["code"] == 10
    many = await library.ok("getAlbumList2", type="newest", size=100000, offset=-5)  # clamped, not refused
    assert names(many) == ["Coast", "First Light"]


async def test_album_lists_page_to_the_end_of_a_large_library(app: FastAPI, library: Library) -> None:
    """A client paging through every album (Symfonium syncs by alphabeticalByName) reaches the last one: deep
    offsets are not clamped to a page it has already seen."""
    many = 100_010
    async with app.state.context.db.transaction() as session:
        await session.execute(
            text(
                "WITH artist AS (INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Prolific') RETURNING id) "
                "INSERT INTO albums (id, title, artist_id) "
                "SELECT gen_random_uuid(), 'Album ' || to_char(g, 'FM000000'), artist.id "
                "FROM generate_series(1, :n) g, artist"
            ),
            {"n": many},
        )
    total = many + 2  # and Coast, First Light of the library
    tail = await library.ok("getAlbumList2", type="alphabeticalByName", size=500, offset=total - 3)
    assert names(tail) == ["Album 100010", "Coast", "First Light"]
    past = await library.ok("getAlbumList2", type="alphabeticalByName", size=500, offset=total)
    assert names(past) == []


async def test_random_songs(library: Library) -> None:
    songs = (await library.ok("getRandomSongs", size=3))["randomSongs"]["song"]
    assert len(songs) == 3
    assert len({s["id"] for s in songs}) == 3
    everything = (await library.ok("getRandomSongs", size=50))["randomSongs"]["song"]
    assert sorted(s["title"] for s in everything) == sorted(library.tracks)
    folk = (await library.ok("getRandomSongs", size=50, genre="Folk", fromYear=1990, toYear=2000))["randomSongs"]
    assert sorted(s["title"] for s in folk["song"]) == ["Harbour", "Tide"]


async def test_an_empty_search_pages_through_the_whole_library(library: Library) -> None:
    seen: dict[str, list[str]] = {"artist": [], "album": [], "song": []}
    offset = 0
    while True:
        params = {"artistCount": 2, "albumCount": 1, "songCount": 2}
        params |= {"artistOffset": offset, "albumOffset": offset // 2, "songOffset": offset}
        result = (await library.ok("search3", query='""', **params))["searchResult3"]
        for kind in seen:
            seen[kind] += [item["id"] for item in result.get(kind, [])]
        if not result.get("song"):
            break
        offset += 2
    assert len(seen["song"]) == len(set(seen["song"])) == 5
    assert sorted(seen["song"]) == sorted(library.sid(t) for t in library.tracks)
    assert seen["song"] == sorted(seen["song"], key=lambda i: i[3:])  # a stable order: by id
    assert len(seen["artist"]) == len(set(seen["artist"])) == 3
    assert len(set(seen["album"])) == 2
    for empty in ("", "*"):
        again = (await library.ok("search3", query=empty, songCount=500))["searchResult3"]
        assert sorted(s["id"] for s in again["song"]) == sorted(seen["song"])
    missing = (await library.ok("search3", songCount=500))["searchResult3"]  # no query at all: the same
    assert len(missing["song"]) == 5


async def test_a_text_search_ranks_matches(library: Library) -> None:
    result = (await library.ok("search3", query="nova"))["searchResult3"]
    assert [a["name"] for a in result["artist"]] == ["Nova"]
    assert sorted(s["title"] for s in result["song"]) == ["Dawn", "Intro"]
    prefix = (await library.ok("search3", query="harb"))["searchResult3"]
    assert [s["title"] for s in prefix["song"]] == ["Harbour"]
    assert [a["name"] for a in prefix.get("album", [])] == []
    paged = (await library.ok("search3", query="nova", songCount=1, songOffset=1))["searchResult3"]
    assert len(paged["song"]) == 1
    old = (await library.ok("search2", query="coast"))["searchResult2"]
    assert [(a["title"], a["isDir"]) for a in old["album"]] == [("Coast", True)]
    nothing = (await library.ok("search3", query="zzyzx"))["searchResult3"]
    assert nothing.get("song", []) == []
