"""Playlists over REST: create, reorder, add and remove, public/private per user, M3U export and import."""

from __future__ import annotations

from typing import Any

from tests.listening.conftest import Listeners
from tests.support.api import error_code


def titles(playlist: dict[str, Any]) -> list[str]:
    return [entry["track"]["title"] for entry in playlist["entries"]]


async def create(lst: Listeners, name: str, *track_titles: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "track_ids": lst.ids(*track_titles), **extra}
    response = await lst.client.post("/api/playlists", json=body, headers=lst.alice)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_playlist_is_created_with_its_tracks_in_order(listeners: Listeners) -> None:
    playlist = await create(listeners, "  Morning  ", "Noon", "Intro", "Noon", comment="for waking up")
    assert playlist["name"] == "Morning"
    assert titles(playlist) == ["Noon", "Intro", "Noon"]  # a track may repeat
    assert [entry["index"] for entry in playlist["entries"]] == [0, 1, 2]
    assert playlist["track_count"] == 3
    assert playlist["duration_secs"] == sum(listeners.tracks[t]["duration_secs"] for t in ("Noon", "Intro", "Noon"))
    assert playlist["owner"]["username"] == "alice"
    assert playlist["editable"] is True
    assert playlist["public"] is False
    assert playlist["comment"] == "for waking up"
    album = listeners.tracks["Noon"]["album"]["id"]
    assert playlist["cover_url"] == f"/api/albums/{album}/cover"
    again = await listeners.client.get(f"/api/playlists/{playlist['id']}", headers=listeners.alice)
    assert titles(again.json()) == ["Noon", "Intro", "Noon"]


async def test_entries_are_reordered_added_and_removed(listeners: Listeners) -> None:
    client, alice = listeners.client, listeners.alice
    playlist = await create(listeners, "Day", "Intro", "Dawn", "Noon")
    base = f"/api/playlists/{playlist['id']}"

    moved = await client.post(f"{base}/tracks/move", json={"from_index": 0, "to_index": 2}, headers=alice)
    assert titles(moved.json()) == ["Dawn", "Noon", "Intro"]
    inserted = await client.post(f"{base}/tracks", json={"track_ids": listeners.ids("Tide"), "index": 1}, headers=alice)
    assert titles(inserted.json()) == ["Dawn", "Tide", "Noon", "Intro"]
    appended = await client.post(f"{base}/tracks", json={"track_ids": listeners.ids("Harbour")}, headers=alice)
    assert titles(appended.json()) == ["Dawn", "Tide", "Noon", "Intro", "Harbour"]
    removed = await client.delete(f"{base}/tracks/2", headers=alice)
    assert titles(removed.json()) == ["Dawn", "Tide", "Intro", "Harbour"]
    replaced = await client.put(f"{base}/tracks", json={"track_ids": listeners.ids("Harbour", "Dawn")}, headers=alice)
    assert titles(replaced.json()) == ["Harbour", "Dawn"]

    no_entry = await client.delete(f"{base}/tracks/7", headers=alice)
    assert no_entry.status_code == 422
    assert error_code(no_entry) == "no_such_entry"
    bad_move = await client.post(f"{base}/tracks/move", json={"from_index": 0, "to_index": 2}, headers=alice)
    assert bad_move.status_code == 422
    assert error_code(bad_move) == "no_such_entry"
    unknown = "00000000-0000-4000-8000-000000000000"
    bad_add = await client.post(f"{base}/tracks", json={"track_ids": [unknown]}, headers=alice)
    assert bad_add.status_code == 422
    assert error_code(bad_add) == "unknown_tracks"
    assert bad_add.json()["error"]["details"] == [unknown]
    renamed = await client.patch(base, json={"name": "Evening", "comment": ""}, headers=alice)
    assert renamed.json()["name"] == "Evening"
    assert renamed.json()["comment"] is None
    assert titles(renamed.json()) == ["Harbour", "Dawn"]


async def test_another_users_private_playlist_does_not_exist_for_them(listeners: Listeners) -> None:
    client, bob = listeners.client, listeners.bob
    playlist = await create(listeners, "Secret", "Tide")
    base = f"/api/playlists/{playlist['id']}"
    for response in (
        await client.get(base, headers=bob),
        await client.patch(base, json={"name": "mine"}, headers=bob),
        await client.delete(base, headers=bob),
        await client.post(f"{base}/tracks", json={"track_ids": listeners.ids("Dawn")}, headers=bob),
        await client.get(f"{base}/m3u", headers=bob),
    ):
        assert response.status_code == 404, response.text
        assert error_code(response) == "playlist_not_found"
    listed = await client.get("/api/playlists", headers=bob)
    assert listed.json()["items"] == []


async def test_a_public_playlist_is_readable_by_everyone_and_changed_only_by_its_owner(listeners: Listeners) -> None:
    client, alice, bob = listeners.client, listeners.alice, listeners.bob
    playlist = await create(listeners, "Shared", "Tide", public=True)
    base = f"/api/playlists/{playlist['id']}"
    seen = await client.get(base, headers=bob)
    assert seen.status_code == 200
    assert seen.json()["editable"] is False
    assert titles(seen.json()) == ["Tide"]
    for response in (
        await client.patch(base, json={"name": "mine"}, headers=bob),
        await client.delete(base, headers=bob),
        await client.put(f"{base}/tracks", json={"track_ids": []}, headers=bob),
    ):
        assert response.status_code == 403
        assert error_code(response) == "not_owner"
    own = await client.post("/api/playlists", json={"name": "Bob's"}, headers=bob)
    assert own.status_code == 201
    everything = await client.get("/api/playlists", headers=bob)
    assert [p["name"] for p in everything.json()["items"]] == ["Bob's", "Shared"]
    mine = await client.get("/api/playlists", params={"mine": "true"}, headers=bob)
    assert [p["name"] for p in mine.json()["items"]] == ["Bob's"]
    hidden = await client.patch(base, json={"public": False}, headers=alice)
    assert hidden.json()["public"] is False
    assert (await client.get(base, headers=bob)).status_code == 404
    deleted = await client.delete(base, headers=alice)
    assert deleted.status_code == 204
    assert (await client.get(base, headers=alice)).status_code == 404


async def test_the_playlist_list_is_paged_by_name(listeners: Listeners) -> None:
    for name in ("delta", "Alpha", "charlie", "bravo", "Echo"):
        await create(listeners, name)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await listeners.client.get("/api/playlists", params=params, headers=listeners.alice)).json()
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Alpha", "bravo", "charlie", "delta", "Echo"]


async def test_a_deleted_track_leaves_the_playlists(listeners: Listeners) -> None:
    playlist = await create(listeners, "Mix", "Tide", "Dawn", "Tide")
    gone = await listeners.client.delete(f"/api/tracks/{listeners.tracks['Tide']['id']}", headers=listeners.alice)
    assert gone.status_code == 204
    after = await listeners.client.get(f"/api/playlists/{playlist['id']}", headers=listeners.alice)
    assert titles(after.json()) == ["Dawn"]
    assert after.json()["track_count"] == 1


async def test_limits_on_size_and_input(listeners: Listeners) -> None:
    client, alice = listeners.client, listeners.alice
    too_many = await client.post(
        "/api/playlists", json={"name": "big", "track_ids": listeners.ids("Tide") * 5001}, headers=alice
    )
    assert too_many.status_code == 422
    no_name = await client.post("/api/playlists", json={"name": "   "}, headers=alice)
    assert no_name.status_code == 422
    not_an_id = await client.get("/api/playlists/not-a-uuid", headers=alice)
    assert not_an_id.status_code == 422
    anonymous = await client.get("/api/playlists")
    assert anonymous.status_code == 401


async def test_m3u_export_then_import_round_trips(listeners: Listeners) -> None:
    client, alice = listeners.client, listeners.alice
    playlist = await create(listeners, "Trip", "Harbour", "Intro", "Harbour")
    exported = await client.get(f"/api/playlists/{playlist['id']}/m3u", headers=alice)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("audio/x-mpegurl")
    lines = exported.text.splitlines()
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:Trip"]
    harbour = listeners.tracks["Harbour"]
    assert lines[2] == f"#EXTINF:{round(harbour['duration_secs'])},Marée - Harbour"
    assert lines[3] == f"http://testserver/api/tracks/{harbour['id']}/stream"

    imported = await client.post(
        "/api/playlists/import", json={"name": "Trip again", "content": exported.text}, headers=alice
    )
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["matched"] == 3
    assert body["unmatched"] == []
    assert titles(body["playlist"]) == ["Harbour", "Intro", "Harbour"]


async def test_a_foreign_m3u_is_matched_by_artist_and_title(listeners: Listeners) -> None:
    content = "\r\n".join(
        [
            "\ufeff#EXTM3U",
            "#EXTINF:61,NOVA - dawn",
            "/music/whatever/track.flac",
            "",
            "# a comment",
            "C:\\Music\\Marée\\Coast\\02 - Harbour.mp3",
            "#EXTINF:12,Nobody - Nothing",
            "http://elsewhere.example/nothing.mp3",
            "01 - Tide.ogg",
        ]
    )
    response = await listeners.client.post(
        "/api/playlists/import", json={"name": "Foreign", "content": content}, headers=listeners.alice
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert titles(body["playlist"]) == ["Dawn", "Harbour", "Tide"]
    assert body["matched"] == 3
    assert body["unmatched"] == ["Nobody - Nothing"]
