"""Browsing the library: ordered keyset pages, details, 404s — and deleting tracks with everything they leave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from soundtime.models import Album, Artist, Cover, Track
from tests.support.api import bearer, context_of, error_code, open_registration, register, upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png
from tests.support.files import temp_entries


async def upload_many(
    client: httpx.AsyncClient, token: str, audio: AudioFactory, tmp_path: Path, specs: list[TrackSpec]
) -> list[dict[str, Any]]:
    tracks = []
    for index, spec in enumerate(specs):
        response = await upload(client, token, audio.make(tmp_path / f"{index}.mp3", "mp3", spec))
        assert response.status_code == 201, response.text
        tracks.append(response.json()["track"])
    return tracks


async def walk(client: httpx.AsyncClient, token: str, path: str, limit: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=params, headers=bearer(token))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, f"{path} keeps returning pages: the cursor does not advance"


async def test_pages_cover_everything_once_in_order(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    names = ["delta", "Alpha", "charlie", "Bravo", "echo", "alpha two", "Foxtrot"]
    specs = [TrackSpec(title=f"song {n}", artist=f"Artist {n}", album=f"Album {n}") for n in names]
    uploaded = await upload_many(client, token, audio, tmp_path, specs)

    tracks = [t for page in await walk(client, token, "/api/tracks", 3) for t in page]
    assert [t["id"] for t in tracks] == [t["id"] for t in reversed(uploaded)]  # newest first

    album_pages = await walk(client, token, "/api/albums", 2)
    assert [len(p) for p in album_pages] == [2, 2, 2, 1]
    titles = [a["title"] for page in album_pages for a in page]
    assert titles == sorted(titles, key=str.lower)
    assert all(a["track_count"] == 1 for page in album_pages for a in page)

    artists = [a["name"] for page in await walk(client, token, "/api/artists", 4) for a in page]
    assert artists == sorted((f"Artist {n}" for n in names), key=str.lower)


async def test_pages_follow_the_database_collation_for_any_script(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    names = ["ΑΣ", "ΑΤ", "İt", "İstanbul", "it", "Straße", "STRASSE", "ǅemal", "a"]  # noqa: RUF001 - Greek on purpose
    await upload_many(client, token, audio, tmp_path, [TrackSpec(title=n, artist=n, album=n) for n in names])
    for path, field in (("/api/artists", "name"), ("/api/albums", "title")):
        seen = [item[field] for page in await walk(client, token, path, 1) for item in page]
        assert sorted(seen) == sorted(names), path  # every one exactly once, no loop


async def test_album_and_artist_details(client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> None:
    token = await register(client)
    cover = make_cover_png(11)
    specs = [
        TrackSpec(title="Second", artist="Queen", album="Opera", track_number=2, disc_number=1, cover=cover),
        TrackSpec(title="First", artist="Queen", album="Opera", track_number=1, disc_number=1, cover=cover),
        TrackSpec(title="Bonus", artist="Queen", album="Opera", track_number=1, disc_number=2, cover=cover),
    ]
    uploaded = await upload_many(client, token, audio, tmp_path, specs)
    album_id = uploaded[0]["album"]["id"]
    album = (await client.get(f"/api/albums/{album_id}", headers=bearer(token))).json()
    assert [t["title"] for t in album["tracks"]] == ["First", "Second", "Bonus"]
    assert album["cover_url"] == f"/api/albums/{album_id}/cover"
    assert album["artist"]["name"] == "Queen"

    artist_id = uploaded[0]["artist"]["id"]
    artist = (await client.get(f"/api/artists/{artist_id}", headers=bearer(token))).json()
    assert (artist["album_count"], artist["track_count"]) == (1, 3)
    assert [a["title"] for a in artist["albums"]] == ["Opera"]

    track = (await client.get(f"/api/tracks/{uploaded[1]['id']}", headers=bearer(token))).json()
    assert track["title"] == "First"
    assert track["stream_url"] == f"/api/tracks/{uploaded[1]['id']}/stream"


@pytest.mark.parametrize(
    "path", ["/api/tracks/{id}", "/api/albums/{id}", "/api/artists/{id}", "/api/albums/{id}/cover"]
)
async def test_unknown_ids_are_404(client: httpx.AsyncClient, path: str) -> None:
    token = await register(client)
    response = await client.get(path.format(id="00000000-0000-4000-8000-000000000000"), headers=bearer(token))
    assert response.status_code == 404
    assert response.json()["error"]["message"]


async def test_malformed_ids_and_cursors_are_4xx(client: httpx.AsyncClient) -> None:
    token = await register(client)
    assert (await client.get("/api/tracks/not-a-uuid", headers=bearer(token))).status_code == 422
    response = await client.get("/api/tracks", params={"cursor": "garbage"}, headers=bearer(token))
    assert response.status_code == 400
    assert error_code(response) == "invalid_cursor"
    assert (await client.get("/api/tracks", params={"limit": 0}, headers=bearer(token))).status_code == 422
    assert (await client.get("/api/tracks", params={"limit": 10_000}, headers=bearer(token))).status_code == 422


async def test_lists_need_authentication(client: httpx.AsyncClient) -> None:
    for path in ("/api/tracks", "/api/albums", "/api/artists", "/api/search?q=x"):
        assert (await client.get(path)).status_code == 401


async def counts(app: FastAPI) -> tuple[int, int, int, int]:
    async with context_of(app).db.transaction() as session:
        track, album, artist, cover = [
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
            for model in (Track, Album, Artist, Cover)
        ]
    return track, album, artist, cover


async def test_delete_by_uploader_removes_audio_and_orphans(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    cover = make_cover_png(5)
    one, two = await upload_many(
        client,
        token,
        audio,
        tmp_path,
        [
            TrackSpec(title="Keep", artist="A", album="Shared", cover=cover),
            TrackSpec(title="Drop", artist="B", album="Solo", album_artist="B", cover=make_cover_png(6)),
        ],
    )
    context = context_of(app)
    blob = context.audio.path_for(two["content_hash"])
    assert blob.exists()
    assert await counts(app) == (2, 2, 2, 2)

    response = await client.delete(f"/api/tracks/{two['id']}", headers=bearer(token))
    assert response.status_code == 204
    assert not blob.exists()
    assert not context.blobs.path_for(_cover_hash(make_cover_png(6))).exists()
    assert context.blobs.path_for(_cover_hash(cover)).exists()
    assert await counts(app) == (1, 1, 1, 1)
    assert (await client.get(f"/api/tracks/{two['id']}", headers=bearer(token))).status_code == 404
    assert (await client.get(f"/api/tracks/{one['id']}/stream", headers=bearer(token))).status_code == 200
    assert temp_entries(context.audio.temp_dir) == []


def _cover_hash(data: bytes) -> str:
    from blake3 import blake3

    return blake3(data).hexdigest()


async def test_only_uploader_or_admin_may_delete(
    client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    admin = await register(client, "admin")
    await open_registration(client, admin)
    bob = await register(client, "bob")
    carol = await register(client, "carol")
    bobs, bobs_second = await upload_many(client, bob, audio, tmp_path, [TrackSpec(title="b1"), TrackSpec(title="b2")])

    refused = await client.delete(f"/api/tracks/{bobs['id']}", headers=bearer(carol))
    assert refused.status_code == 403
    assert (await client.delete(f"/api/tracks/{bobs['id']}", headers=bearer(bob))).status_code == 204
    assert (await client.delete(f"/api/tracks/{bobs_second['id']}", headers=bearer(admin))).status_code == 204
    assert (await client.delete(f"/api/tracks/{bobs['id']}", headers=bearer(admin))).status_code == 404


async def test_reupload_after_delete_restores_the_track(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    path = audio.make(tmp_path / "again.flac", "flac", TrackSpec(title="Again"))
    first = (await upload(client, token, path)).json()["track"]
    assert (await client.delete(f"/api/tracks/{first['id']}", headers=bearer(token))).status_code == 204
    second = await upload(client, token, path)
    assert second.status_code == 201
    assert context_of(app).audio.path_for(first["content_hash"]).read_bytes() == path.read_bytes()
