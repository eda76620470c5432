"""Keyset pages over a library of a thousand-odd rows written by SQL: every list walks each row exactly once, in
order, across page boundaries (page size dividing the list exactly or not) and across ties in the sort keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.library.test_browse_api import walk
from tests.support.api import bearer, context_of, register

PEER = "d" * 64
BIG_ARTIST_TRACKS = 1200
OTHER_TRACKS = 200

# 63 artists: three whose names differ only in case (one sort key), the big one, 59 more.
# 100 albums: "Same" in three cases by three artists, the others numbered; the big artist has 40 of them.
# Tracks: titles repeat ("Song", "song", "SONG" and numbered ones: ties broken by id), seven tracks share each
# created_at (ties in "recently added"), every other one is replicated from a peer.
_ROWS = [
    "INSERT INTO peers (node_id, source) VALUES (:peer, 'seed')",
    "INSERT INTO artists (id, name) SELECT gen_random_uuid(), n FROM unnest(ARRAY['Tie', 'TIE', 'tie', 'Big']) n",
    "INSERT INTO artists (id, name) SELECT gen_random_uuid(), 'Artist ' || lpad(g::text, 3, '0') "
    "FROM generate_series(1, 59) g",
    "INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), t, a.id "
    "FROM unnest(ARRAY['Same', 'SAME', 'same'], ARRAY['Tie', 'TIE', 'tie']) AS u(t, n) JOIN artists a ON a.name = u.n",
    "INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), 'Album ' || (g % 50), "
    "(SELECT id FROM artists WHERE name = CASE WHEN g < 40 THEN 'Big' ELSE 'Artist ' || lpad((g % 59 + 1)::text, 3, "
    "'0') END) FROM generate_series(0, 96) g",
    "INSERT INTO tracks (id, title, artist_id, album_id, track_number, duration_secs, format, content_hash, "
    "file_path, file_size, origin_node, created_at) "
    "SELECT gen_random_uuid(), (ARRAY['Song', 'song', 'SONG', 'Track ' || g])[g % 4 + 1], "
    "CASE WHEN g < CAST(:big AS int) THEN (SELECT id FROM artists WHERE name = 'Big') "
    "ELSE (SELECT id FROM artists WHERE name = 'Artist ' || lpad((g % 59 + 1)::text, 3, '0')) END, "
    "(SELECT id FROM albums ORDER BY id OFFSET g % 100 LIMIT 1), g % 12 + 1, 200, 'flac', "
    "encode(sha256(('page test ' || g)::bytea), 'hex'), CASE WHEN g % 2 = 0 THEN 'x/' || g END, 1000, "
    "CASE WHEN g % 2 = 1 THEN CAST(:peer AS text) END, timestamptz '2024-01-01' + (g / 7) * interval '1 second' "
    "FROM generate_series(0, CAST(:big AS int) + CAST(:others AS int) - 1) g",
]

_TRACK_FACTS = (
    "SELECT t.id, t.title, t.created_at, t.origin_node, a.name FROM tracks t JOIN artists a ON a.id = t.artist_id"
)


@pytest.fixture
async def library(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    """The admin's token and every row's sort facts, for the expected orders."""
    token = await register(client)
    async with context_of(app).db.transaction() as session:
        for statement in _ROWS:
            await session.execute(text(statement), {"peer": PEER, "big": BIG_ARTIST_TRACKS, "others": OTHER_TRACKS})
        tracks = (await session.execute(text(_TRACK_FACTS))).all()
        artists = (await session.execute(text("SELECT id, name FROM artists"))).all()
        albums = (await session.execute(text("SELECT id, title FROM albums"))).all()
    return {"token": token, "tracks": tracks, "artists": artists, "albums": albums}


def _ids(rows: list[Any], key: Callable[[Any], Any], *, reverse: bool = False) -> list[str]:
    return [str(row.id) for row in sorted(rows, key=key, reverse=reverse)]


def _expected(library: dict[str, Any]) -> dict[str, list[str]]:
    tracks, big = library["tracks"], [t for t in library["tracks"] if t.name == "Big"]
    return {
        "/api/tracks": _ids(tracks, lambda t: (t.created_at, t.id), reverse=True),
        "/api/albums": _ids(library["albums"], lambda a: (a.title.lower(), a.id)),
        "/api/artists": _ids(library["artists"], lambda a: (a.name.lower(), a.id)),
        "/api/admin/remote-tracks": _ids([t for t in tracks if t.origin_node], lambda t: t.id),
        "big artist's tracks": _ids(big, lambda t: (t.title.lower(), t.id)),
    }


async def _big_artist(client: httpx.AsyncClient, token: str) -> str:
    body = (await client.get("/api/artists", params={"limit": 200}, headers=bearer(token))).json()
    return next(a["id"] for a in body["items"] if a["name"] == "Big")


@pytest.mark.parametrize(
    ("list_name", "limits"),
    [
        ("/api/tracks", (200, 199)),  # 1,400 tracks: 7 full pages, or 8 with a short last one
        ("/api/albums", (50, 33)),  # 100 albums
        ("/api/artists", (21, 20)),  # 63 artists
        ("/api/admin/remote-tracks", (100, 99)),  # 700 replicated tracks
        ("big artist's tracks", (200, 199)),  # 1,200 tracks
    ],
)
async def test_pages_are_complete_and_ordered_at_their_boundaries(
    client: httpx.AsyncClient, library: dict[str, Any], list_name: str, limits: tuple[int, int]
) -> None:
    token = library["token"]
    path = list_name
    if list_name == "big artist's tracks":
        path = f"/api/artists/{await _big_artist(client, token)}/tracks"
    expected = _expected(library)[list_name]
    for limit in limits:
        pages = await walk(client, token, path, limit)
        assert [item["id"] for page in pages for item in page] == expected, (path, limit)
        assert all(len(page) == limit for page in pages[:-1])
        assert 0 < len(pages[-1]) <= limit  # the last page is never empty, even when the size divides exactly
        assert len(pages) == -(-len(expected) // limit)


async def test_an_artist_page_shows_50_tracks_and_a_cursor_to_the_rest(
    client: httpx.AsyncClient, library: dict[str, Any]
) -> None:
    token = library["token"]
    artist_id = await _big_artist(client, token)
    detail = (await client.get(f"/api/artists/{artist_id}", headers=bearer(token))).json()
    assert detail["track_count"] == BIG_ARTIST_TRACKS
    assert len(detail["tracks"]) == 50
    rest = await client.get(
        f"/api/artists/{artist_id}/tracks",
        params={"limit": 200, "cursor": detail["tracks_next_cursor"]},
        headers=bearer(token),
    )
    seen = [t["id"] for t in detail["tracks"]] + [t["id"] for t in rest.json()["items"]]
    assert seen == _expected(library)["big artist's tracks"][:250]

    small = next(a for a in library["artists"] if a.name == "Artist 001")
    detail = (await client.get(f"/api/artists/{small.id}", headers=bearer(token))).json()
    assert detail["tracks_next_cursor"] is None
    assert len(detail["tracks"]) == detail["track_count"] > 0


async def test_artist_tracks_of_an_unknown_artist_or_with_a_bad_cursor(
    client: httpx.AsyncClient, library: dict[str, Any]
) -> None:
    token = library["token"]
    unknown = await client.get(f"/api/artists/{uuid.uuid4()}/tracks", headers=bearer(token))
    assert unknown.status_code == 404
    artist_id = await _big_artist(client, token)
    bad = await client.get(f"/api/artists/{artist_id}/tracks", params={"cursor": "bm90IG91cnM"}, headers=bearer(token))
    assert bad.status_code == 400
