"""Favourites, ratings, play history and the saved play queue over REST, each per user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from soundtime.listening import repository as repo
from soundtime.models import Play
from tests.listening.conftest import Listeners
from tests.support.api import error_code

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_starring_tracks_albums_and_artists_is_per_user(listeners: Listeners) -> None:
    client, alice, bob = listeners.client, listeners.alice, listeners.bob
    tide, dawn = listeners.tracks["Tide"], listeners.tracks["Dawn"]
    for path in (
        f"/api/favourites/tracks/{tide['id']}",
        f"/api/favourites/tracks/{dawn['id']}",
        f"/api/favourites/albums/{tide['album']['id']}",
        f"/api/favourites/artists/{dawn['artist']['id']}",
    ):
        assert (await client.put(path, headers=alice)).status_code == 204
    tracks = (await client.get("/api/favourites/tracks", headers=alice)).json()
    assert [f["track"]["title"] for f in tracks["items"]] == ["Dawn", "Tide"]  # most recently starred first
    albums = (await client.get("/api/favourites/albums", headers=alice)).json()
    assert [f["album"]["title"] for f in albums["items"]] == ["Coast"]
    artists = (await client.get("/api/favourites/artists", headers=alice)).json()
    assert [f["artist"]["name"] for f in artists["items"]] == ["Nova"]
    assert (await client.get("/api/favourites/tracks", headers=bob)).json()["items"] == []

    first = (await client.get(f"/api/annotations/tracks/{tide['id']}", headers=alice)).json()["starred_at"]
    await client.put(f"/api/favourites/tracks/{tide['id']}", headers=alice)
    again = (await client.get(f"/api/annotations/tracks/{tide['id']}", headers=alice)).json()["starred_at"]
    assert again == first  # starring again keeps the date

    assert (await client.delete(f"/api/favourites/tracks/{tide['id']}", headers=alice)).status_code == 204
    assert (await client.delete(f"/api/favourites/tracks/{tide['id']}", headers=alice)).status_code == 204
    tracks = (await client.get("/api/favourites/tracks", headers=alice)).json()
    assert [f["track"]["title"] for f in tracks["items"]] == ["Dawn"]
    unknown = await client.put(f"/api/favourites/albums/{UNKNOWN}", headers=alice)
    assert unknown.status_code == 404
    assert error_code(unknown) == "album_not_found"
    wrong_kind = await client.put(f"/api/favourites/songs/{tide['id']}", headers=alice)
    assert wrong_kind.status_code == 422


async def test_favourites_are_paged(listeners: Listeners) -> None:
    for title in listeners.tracks:
        await listeners.client.put(f"/api/favourites/tracks/{listeners.tracks[title]['id']}", headers=listeners.alice)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await listeners.client.get("/api/favourites/tracks", params=params, headers=listeners.alice)).json()
        seen += [f["track"]["title"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(listeners.tracks)
    assert len(seen) == len(set(seen))


async def test_ratings(listeners: Listeners) -> None:
    client, alice, bob = listeners.client, listeners.alice, listeners.bob
    album = listeners.tracks["Noon"]["album"]["id"]
    rated = await client.put(f"/api/ratings/albums/{album}", json={"rating": 4}, headers=alice)
    assert rated.status_code == 200
    assert rated.json()["rating"] == 4
    assert (await client.get(f"/api/annotations/albums/{album}", headers=bob)).json()["rating"] is None
    cleared = await client.put(f"/api/ratings/albums/{album}", json={"rating": 0}, headers=alice)
    assert cleared.json()["rating"] is None
    for bad in (6, -1, "five"):
        response = await client.put(f"/api/ratings/albums/{album}", json={"rating": bad}, headers=alice)
        assert response.status_code == 422
    missing = await client.put(f"/api/ratings/tracks/{UNKNOWN}", json={"rating": 3}, headers=alice)
    assert missing.status_code == 404


async def test_plays_make_the_history_and_the_counts(listeners: Listeners) -> None:
    client, alice, bob = listeners.client, listeners.alice, listeners.bob
    tide, dawn = listeners.tracks["Tide"], listeners.tracks["Dawn"]
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for track, when in ((tide, earlier), (dawn, None), (tide, None), (tide, None)):
        body = {"track_id": track["id"], **({"played_at": when} if when else {})}
        assert (await client.post("/api/history", json=body, headers=alice)).status_code == 204
    recent = (await client.get("/api/history", params={"limit": 2}, headers=alice)).json()
    assert [p["track"]["title"] for p in recent["items"]] == ["Tide", "Tide"]
    rest = (await client.get("/api/history", params={"cursor": recent["next_cursor"]}, headers=alice)).json()
    assert [p["track"]["title"] for p in rest["items"]] == ["Dawn", "Tide"]
    assert rest["items"][-1]["client"] == "web"
    assert rest["next_cursor"] is None

    most = (await client.get("/api/history/most-played", headers=alice)).json()
    assert [(m["track"]["title"], m["play_count"]) for m in most] == [("Tide", 3), ("Dawn", 1)]
    album = (await client.get(f"/api/annotations/albums/{tide['album']['id']}", headers=alice)).json()
    assert album["play_count"] == 3
    assert album["last_played_at"] is not None
    artist = (await client.get(f"/api/annotations/artists/{dawn['artist']['id']}", headers=alice)).json()
    assert artist["play_count"] == 1
    assert (await client.get("/api/history", headers=bob)).json()["items"] == []
    assert (await client.get("/api/history/most-played", headers=bob)).json() == []

    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    await client.post("/api/history", json={"track_id": dawn["id"], "played_at": future}, headers=bob)
    bobs = (await client.get("/api/history", headers=bob)).json()["items"]
    assert datetime.fromisoformat(bobs[0]["played_at"]) <= datetime.now(UTC)  # a client's clock is not trusted
    missing = await client.post("/api/history", json={"track_id": UNKNOWN}, headers=alice)
    assert missing.status_code == 404


async def test_the_history_is_trimmed_but_the_counts_stay(listeners: Listeners, app: object) -> None:
    from tests.support.api import context_of

    context = context_of(app)  # type: ignore[arg-type]
    user = (await listeners.client.get("/api/auth/me", headers=listeners.alice)).json()["id"]
    tide = uuid.UUID(listeners.tracks["Tide"]["id"])
    async with context.db.transaction() as session:
        refs = (await repo.track_refs(session, [tide]))[tide]
        start = datetime.now(UTC) - timedelta(days=1)
        plays = [(refs, start + timedelta(seconds=i)) for i in range(30)]
        await repo.record_plays(session, uuid.UUID(user), plays, "test")
        await repo.prune_plays(session, uuid.UUID(user), keep=10)
    async with context.db.transaction() as session:
        kept = await session.scalar(select(func.count()).select_from(Play))
        oldest = await session.scalar(select(func.min(Play.played_at)))
    assert kept == 10
    assert oldest == start + timedelta(seconds=20)
    counts = await listeners.client.get(f"/api/annotations/tracks/{tide}", headers=listeners.alice)
    assert counts.json()["play_count"] == 30


async def test_the_play_queue_resumes_on_another_device(listeners: Listeners) -> None:
    client, alice, bob = listeners.client, listeners.alice, listeners.bob
    empty = (await client.get("/api/play-queue", headers=alice)).json()
    assert empty == {"tracks": [], "current_index": None, "position_ms": 0, "changed_at": None, "changed_by": None}
    body = {"track_ids": listeners.ids("Tide", "Dawn", "Tide"), "current_index": 2, "position_ms": 61_500}
    saved = await client.put("/api/play-queue", json={**body, "client": "phone"}, headers=alice)
    assert saved.status_code == 200, saved.text
    resumed = (await client.get("/api/play-queue", headers=alice)).json()
    assert [t["title"] for t in resumed["tracks"]] == ["Tide", "Dawn", "Tide"]
    assert resumed["current_index"] == 2
    assert resumed["position_ms"] == 61_500
    assert resumed["changed_by"] == "phone"
    assert (await client.get("/api/play-queue", headers=bob)).json()["tracks"] == []

    await client.delete(f"/api/tracks/{listeners.tracks['Dawn']['id']}", headers=alice)
    after = (await client.get("/api/play-queue", headers=alice)).json()
    assert [t["title"] for t in after["tracks"]] == ["Tide", "Tide"]
    assert after["current_index"] == 1  # still the same entry

    outside = await client.put(
        "/api/play-queue", json={"track_ids": listeners.ids("Tide"), "current_index": 1}, headers=alice
    )
    assert outside.status_code == 422
    assert error_code(outside) == "no_such_entry"
    unknown = await client.put("/api/play-queue", json={"track_ids": [UNKNOWN]}, headers=alice)
    assert unknown.status_code == 422
    assert error_code(unknown) == "unknown_tracks"
    cleared = await client.put("/api/play-queue", json={"track_ids": []}, headers=alice)
    assert cleared.json()["tracks"] == []
    assert (await client.delete("/api/play-queue", headers=alice)).status_code == 204
