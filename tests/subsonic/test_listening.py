"""Annotation, playlists and the play queue through /rest/, per user."""

from __future__ import annotations

from tests.subsonic.conftest import Library


async def test_stars_ratings_and_scrobbles(library: Library) -> None:
    intro, tide = library.sid("Intro"), library.sid("Tide")
    album = "al-" + library.tracks["Tide"]["album"]["id"]
    artist = "ar-" + library.tracks["Intro"]["artist"]["id"]
    await library.ok("star", id=[intro, tide], albumId=album, artistId=artist)
    starred = (await library.ok("getStarred2"))["starred2"]
    assert sorted(s["id"] for s in starred["song"]) == sorted([intro, tide])
    assert [a["id"] for a in starred["album"]] == [album]
    assert [a["id"] for a in starred["artist"]] == [artist]
    assert all("starred" in s for s in starred["song"])
    folder = (await library.ok("getStarred"))["starred"]
    assert [a["isDir"] for a in folder["album"]] == [True]
    assert (await library.ok("getStarred2", account=library.bob))["starred2"].get("song", []) == []
    await library.ok("unstar", id=tide)
    assert [s["id"] for s in (await library.ok("getStarred2"))["starred2"]["song"]] == [intro]

    await library.ok("setRating", id=intro, rating=5)
    assert (await library.ok("getSong", id=intro))["song"]["userRating"] == 5
    await library.ok("setRating", id=intro, rating=0)
    assert "userRating" not in (await library.ok("getSong", id=intro))["song"]
    assert (await library.json("setRating", id=intro, rating=9))["error"]["code"] == 0
    assert (await library.json("star", id="tr-00000000-0000-4000-8000-000000000000"))["error"]["code"] == 70
    assert (await library.json("star"))["error"]["code"] == 10

    await library.ok("scrobble", id=intro, submission="false")  # "now playing": not counted
    assert (await library.ok("getSong", id=intro))["song"]["playCount"] == 0
    await library.ok("scrobble", id=[intro, intro], time=[1_700_000_000_000, 1_700_000_100_000])
    song = (await library.ok("getSong", id=intro))["song"]
    assert song["playCount"] == 2
    assert song["played"] == "2023-11-14T22:15:00.000Z"
    history = (await library.client.get("/api/history", headers=library.alice.headers)).json()["items"]
    assert [(p["track"]["title"], p["client"]) for p in history] == [("Intro", "tests"), ("Intro", "tests")]


async def test_playlists_round_trip(library: Library) -> None:
    created = (
        await library.ok(
            "createPlaylist", name="Road", songId=[library.sid("Tide"), library.sid("Intro"), library.sid("Tide")]
        )
    )["playlist"]
    pid = created["id"]
    assert pid.startswith("pl-")
    assert [e["title"] for e in created["entry"]] == ["Tide", "Intro", "Tide"]
    assert (created["songCount"], created["owner"], created["public"]) == (3, "alice", False)
    listed = (await library.ok("getPlaylists"))["playlists"]["playlist"]
    assert [p["name"] for p in listed] == ["Road"]

    await library.ok(
        "updatePlaylist",
        playlistId=pid,
        name="Road trip",
        comment="summer",
        public="true",
        songIndexToRemove=[0, 2],
        songIdToAdd=library.sid("Harbour"),
    )
    updated = (await library.ok("getPlaylist", id=pid))["playlist"]
    assert (updated["name"], updated["comment"], updated["public"]) == ("Road trip", "summer", True)
    assert [e["title"] for e in updated["entry"]] == ["Intro", "Harbour"]
    assert updated["coverArt"] == pid
    cover = await library.call("getCoverArt", id=pid)
    assert cover.headers["content-type"] == "image/jpeg"

    replaced = (await library.ok("createPlaylist", playlistId=pid, songId=library.sid("Loose")))["playlist"]
    assert [e["title"] for e in replaced["entry"]] == ["Loose"]

    bob = library.bob
    seen = (await library.ok("getPlaylist", id=pid, account=bob))["playlist"]  # public: readable
    assert seen["owner"] == "alice"
    assert (await library.json("updatePlaylist", bob, playlistId=pid, name="mine"))["error"]["code"] == 50
    assert (await library.json("deletePlaylist", bob, id=pid))["error"]["code"] == 50
    await library.ok("updatePlaylist", playlistId=pid, public="false")
    assert (await library.json("getPlaylist", bob, id=pid))["error"]["code"] == 70  # private: not found
    assert (await library.ok("getPlaylists", account=bob))["playlists"].get("playlist", []) == []
    assert (await library.json("getPlaylists", bob, username="alice"))["error"]["code"] == 50
    await library.ok("deletePlaylist", id=pid)
    assert (await library.json("getPlaylist", id=pid))["error"]["code"] == 70
    assert (await library.json("createPlaylist"))["error"]["code"] == 10


async def test_the_play_queue_round_trips(library: Library) -> None:
    assert "playQueue" not in await library.ok("getPlayQueue")
    queue = [library.sid("Tide"), library.sid("Dawn"), library.sid("Tide")]
    await library.ok("savePlayQueue", id=queue, current=library.sid("Dawn"), position=42_000)
    saved = (await library.ok("getPlayQueue"))["playQueue"]
    assert [e["id"] for e in saved["entry"]] == queue
    assert (saved["current"], saved["position"], saved["username"], saved["changedBy"]) == (
        library.sid("Dawn"),
        42_000,
        "alice",
        "tests",
    )
    await library.ok("savePlayQueueByIndex", id=queue, currentIndex=2, position=7)
    by_index = (await library.ok("getPlayQueueByIndex"))["playQueueByIndex"]
    assert (by_index["currentIndex"], by_index["position"]) == (2, 7)
    rest_view = (await library.client.get("/api/play-queue", headers=library.alice.headers)).json()
    assert rest_view["current_index"] == 2
    assert "playQueue" not in await library.ok("getPlayQueue", account=library.bob)
    assert (await library.json("savePlayQueue", id=queue, current=library.sid("Intro")))["error"]["code"] == 0
    await library.ok("savePlayQueue")  # no ids: cleared
    assert "playQueue" not in await library.ok("getPlayQueue")
