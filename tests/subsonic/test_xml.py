"""Every implemented endpoint's XML as XML clients (DSub, Amperfy) parse it: well-formed, in the Subsonic
namespace, the root's attributes, and element names, child order and attributes as the Subsonic schema (1.16)
and OpenSubsonic define them. The table below is written from those definitions."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.subsonic.conftest import NS, Library
from tests.support.api import upload
from tests.support.audio import AudioFactory, TrackSpec

# Element types: required attributes, typed attributes, and allowed children in schema order (child → type).
CHILD = {
    "required": {"id", "isDir", "title"},
    "int": {
        "track",
        "year",
        "size",
        "duration",
        "bitRate",
        "playCount",
        "discNumber",
        "userRating",
        "samplingRate",
        "channelCount",
    },
    "bool": {"isDir", "isVideo"},
    "time": {"created", "starred", "played"},
    "children": [],
}
ALBUM = {
    "required": {"id", "name", "songCount", "duration", "created"},
    "int": {"songCount", "duration", "playCount", "year", "userRating"},
    "time": {"created", "starred", "played"},
    "children": [],
}
ARTIST_ID3 = {"required": {"id", "name", "albumCount"}, "int": {"albumCount"}, "time": {"starred"}, "children": []}
ARTIST = {"required": {"id", "name"}, "int": {"userRating"}, "time": {"starred"}, "children": []}
PLAYLIST = {
    "required": {"id", "name", "songCount", "duration", "created", "changed"},
    "int": {"songCount", "duration"},
    "bool": {"public"},
    "time": {"created", "changed"},
    "children": [],
}
QUEUE_BASE = {"required": {"username", "changed", "changedBy"}, "int": {"position"}, "time": {"changed"}}
TYPES: dict[str, dict[str, Any]] = {
    "musicFolders": {"children": [("musicFolder", {"required": {"id"}, "int": {"id"}, "children": []})]},
    "indexes": {
        "required": {"lastModified", "ignoredArticles"},
        "int": {"lastModified"},
        "children": [("index", {"required": {"name"}, "children": [("artist", ARTIST)]}), ("child", CHILD)],
    },
    "directory": {"required": {"id", "name"}, "int": {"playCount", "userRating"}, "children": [("child", CHILD)]},
    "genres": {
        "children": [
            (
                "genre",
                {
                    "required": {"songCount", "albumCount"},
                    "int": {"songCount", "albumCount"},
                    "text": True,
                    "children": [],
                },
            )
        ]
    },
    "artists": {
        "required": {"ignoredArticles"},
        "children": [("index", {"required": {"name"}, "children": [("artist", ARTIST_ID3)]})],
    },
    "artist": {**ARTIST_ID3, "children": [("album", ALBUM)]},
    "album": {**ALBUM, "children": [("song", CHILD)]},
    "song": CHILD,
    "searchResult2": {"children": [("artist", ARTIST), ("album", CHILD), ("song", CHILD)]},
    "searchResult3": {"children": [("artist", ARTIST_ID3), ("album", ALBUM), ("song", CHILD)]},
    "playlists": {"children": [("playlist", PLAYLIST)]},
    "playlist": {**PLAYLIST, "children": [("entry", CHILD)]},
    "license": {"required": {"valid"}, "bool": {"valid"}, "children": []},
    "user": {
        "required": {
            "username",
            "scrobblingEnabled",
            "adminRole",
            "settingsRole",
            "downloadRole",
            "uploadRole",
            "playlistRole",
            "coverArtRole",
            "commentRole",
            "podcastRole",
            "streamRole",
            "jukeboxRole",
            "shareRole",
        },
        "bool": {"scrobblingEnabled", "adminRole", "streamRole"},
        "children": [("folder", {"text": True, "children": []})],
    },
    "albumList": {"children": [("album", CHILD)]},
    "albumList2": {"children": [("album", ALBUM)]},
    "randomSongs": {"children": [("song", CHILD)]},
    "songsByGenre": {"children": [("song", CHILD)]},
    "topSongs": {"children": [("song", CHILD)]},
    "starred": {"children": [("artist", ARTIST), ("album", CHILD), ("song", CHILD)]},
    "starred2": {"children": [("artist", ARTIST_ID3), ("album", ALBUM), ("song", CHILD)]},
    "playQueue": {**QUEUE_BASE, "children": [("entry", CHILD)]},
    "playQueueByIndex": {**QUEUE_BASE, "int": {"position", "currentIndex"}, "children": [("entry", CHILD)]},
    "scanStatus": {"required": {"scanning"}, "bool": {"scanning"}, "int": {"count"}, "children": []},
    "artistInfo": {"children": []},
    "artistInfo2": {"children": []},
    "albumInfo": {"children": []},
    "tokenInfo": {"required": {"username"}, "children": []},
    "openSubsonicExtensions": {"required": {"name"}, "children": [("versions", {"text": True, "children": []})]},
}
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def check(element: ET.Element, spec: dict[str, Any], path: str) -> None:
    assert element.tag.startswith(NS), f"{path}: {element.tag} is not in the Subsonic namespace"
    attributes = element.attrib
    missing = spec.get("required", set()) - attributes.keys()
    assert not missing, f"{path}: missing attributes {missing}"
    for name in spec.get("int", set()) & attributes.keys():
        assert re.fullmatch(r"-?\d+", attributes[name]), f"{path}@{name}={attributes[name]!r} is not an integer"
    for name in spec.get("bool", set()) & attributes.keys():
        assert attributes[name] in ("true", "false"), f"{path}@{name}={attributes[name]!r} is not a boolean"
    for name in spec.get("time", set()) & attributes.keys():
        assert datetime.fromisoformat(attributes[name].replace("Z", "+00:00")).tzinfo is not None, f"{path}@{name}"
    if not spec.get("text"):
        assert not (element.text or "").strip(), f"{path} has text"
    allowed = [name for name, _ in spec["children"]]
    last = -1
    for child in element:
        name = child.tag.removeprefix(NS)
        assert name in allowed, f"{path}: unexpected <{name}> (allowed: {allowed})"
        position = allowed.index(name)
        assert position >= last, f"{path}: <{name}> after <{allowed[last]}> breaks the schema's order"
        last = position
        check(child, dict(spec["children"])[name], f"{path}/{name}")


def check_response(root: ET.Element, endpoint: str) -> list[str]:
    assert root.tag == f"{NS}subsonic-response", endpoint
    assert root.attrib["status"] == "ok", (endpoint, ET.tostring(root)[:300])
    assert _VERSION.match(root.attrib["version"])
    assert root.attrib["type"] == "soundtime"
    assert root.attrib["serverVersion"]
    assert root.attrib["openSubsonic"] == "true"
    names = []
    for child in root:
        name = child.tag.removeprefix(NS)
        assert name in TYPES, f"{endpoint}: unknown element <{name}>"
        check(child, TYPES[name], f"{endpoint}/{name}")
        names.append(name)
    return names


async def test_the_xml_of_every_endpoint(library: Library) -> None:
    album = "al-" + library.tracks["Intro"]["album"]["id"]
    artist = "ar-" + library.tracks["Intro"]["artist"]["id"]
    await library.ok("star", id=library.sid("Intro"), albumId=album, artistId=artist)
    await library.ok("scrobble", id=library.sid("Intro"))
    await library.ok("setRating", id=library.sid("Intro"), rating=3)
    playlist = (await library.ok("createPlaylist", name="P & <Q>", songId=library.sid("Tide")))["playlist"]["id"]
    await library.ok("savePlayQueue", id=[library.sid("Tide"), library.sid("Intro")], current=library.sid("Intro"))
    calls: list[tuple[str, dict[str, Any], list[str]]] = [
        ("ping", {}, []),
        ("getLicense", {}, ["license"]),
        ("getOpenSubsonicExtensions", {}, ["openSubsonicExtensions"] * 4),
        ("tokenInfo", {}, ["tokenInfo"]),
        ("getScanStatus", {}, ["scanStatus"]),
        ("getMusicFolders", {}, ["musicFolders"]),
        ("getIndexes", {}, ["indexes"]),
        ("getMusicDirectory", {"id": "1"}, ["directory"]),
        ("getMusicDirectory", {"id": artist}, ["directory"]),
        ("getMusicDirectory", {"id": album}, ["directory"]),
        ("getGenres", {}, ["genres"]),
        ("getArtists", {}, ["artists"]),
        ("getArtist", {"id": artist}, ["artist"]),
        ("getAlbum", {"id": album}, ["album"]),
        ("getSong", {"id": library.sid("Intro")}, ["song"]),
        ("getArtistInfo", {"id": artist}, ["artistInfo"]),
        ("getArtistInfo2", {"id": artist}, ["artistInfo2"]),
        ("getAlbumInfo", {"id": album}, ["albumInfo"]),
        ("getAlbumInfo2", {"id": album}, ["albumInfo"]),
        ("getTopSongs", {"artist": "Nova"}, ["topSongs"]),
        ("getAlbumList", {"type": "alphabeticalByName"}, ["albumList"]),
        ("getAlbumList2", {"type": "newest"}, ["albumList2"]),
        ("getRandomSongs", {}, ["randomSongs"]),
        ("getSongsByGenre", {"genre": "Folk"}, ["songsByGenre"]),
        ("getStarred", {}, ["starred"]),
        ("getStarred2", {}, ["starred2"]),
        ("search2", {"query": "nova"}, ["searchResult2"]),
        ("search3", {"query": ""}, ["searchResult3"]),
        ("getPlaylists", {}, ["playlists"]),
        ("getPlaylist", {"id": playlist}, ["playlist"]),
        ("getPlayQueue", {}, ["playQueue"]),
        ("getPlayQueueByIndex", {}, ["playQueueByIndex"]),
        ("getUser", {"username": "alice"}, ["user"]),
        ("star", {"id": library.sid("Dawn")}, []),
        ("unstar", {"id": library.sid("Dawn")}, []),
        ("setRating", {"id": library.sid("Dawn"), "rating": 2}, []),
        ("scrobble", {"id": library.sid("Dawn")}, []),
        ("updatePlaylist", {"playlistId": playlist, "name": "renamed"}, []),
        ("savePlayQueue", {"id": library.sid("Dawn")}, []),
        ("savePlayQueueByIndex", {"id": library.sid("Dawn"), "currentIndex": 0}, []),
        ("deletePlaylist", {"id": playlist}, []),
        ("createPlaylist", {"name": "again", "songId": library.sid("Tide")}, ["playlist"]),
    ]
    for endpoint, params, expected in calls:
        root = await library.xml(endpoint, **params)
        assert check_response(root, endpoint) == expected, endpoint
    directory = (await library.xml("getMusicDirectory", id=album)).find(f"{NS}directory")
    assert directory is not None
    assert [c.attrib["title"] for c in directory] == ["Intro", "Dawn"]
    assert directory[0].attrib["isDir"] == "false"
    assert directory[0].attrib["userRating"] == "3"
    genres = (await library.xml("getGenres")).find(f"{NS}genres")
    assert genres is not None
    assert [(g.text, g.attrib["songCount"]) for g in genres] == [("Ambient", "2"), ("Folk", "3")]
    listed = (await library.xml("getPlaylists")).find(f"{NS}playlists")
    assert listed is not None
    assert listed[0].attrib["name"] == "again"


async def test_tags_that_xml_cannot_carry_still_make_a_well_formed_document(
    library: Library, audio: AudioFactory, tmp_path: Path
) -> None:
    spec = TrackSpec(title="Bell\x07 & <b>\ttab", artist="Esc\x1b[31m", album="Line\nbreak")
    response = await upload(library.client, library.alice.token, audio.make(tmp_path / "odd.mp3", "mp3", spec))
    assert response.status_code == 201, response.text
    root = await library.xml("search3", query="bell")
    check_response(root, "search3")
    song = root.find(f"{NS}searchResult3/{NS}song")
    assert song is not None
    assert song.attrib["title"] == "Bell\ufffd & <b>\ttab"  # escaped, tab kept; the bell (not XML) replaced
    assert song.attrib["artist"] == "Esc\ufffd[31m"
    assert song.attrib["album"] == "Line\nbreak"
