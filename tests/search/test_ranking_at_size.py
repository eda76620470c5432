"""Search ranking on libraries written by SQL: the same ranking as an exhaustive sort for ordinary queries, and a
sensible one for words so common that only the newest matches are ranked (bounded work)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from soundtime.kit.db import Database
from soundtime.search import repository as repo
from soundtime.search.repository import CANDIDATES
from tests.support.api import bearer, context_of, register

# Words of five letters, none the start of another: a whole-word match and a prefix match of a whole word are the
# same thing for them, so the exhaustive ranking below is exactly the one before bounded candidates existed.
WORDS = [
    c1 + v1 + c2 + v2 + c3
    for c1, v1, c2, v2, c3 in zip(
        "bdfgklmnprstvz" * 5, "aeiou" * 14, "kmnrst" * 12, "oiuae" * 14, "lnrst" * 14, strict=False
    )
][:60]

_LIBRARY = [
    "CREATE TEMP TABLE words AS SELECT i, w FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS u(w, i)",
    "INSERT INTO artists (id, name) SELECT gen_random_uuid(), initcap(w) || ' ' || i FROM words WHERE i <= 50",
    "INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), initcap(w1.w) || ' ' || initcap(w2.w), "
    "(SELECT id FROM artists ORDER BY name OFFSET (w1.i * 7 + w2.i) % 50 LIMIT 1) "
    "FROM words w1 JOIN words w2 ON w2.i = (w1.i * 13) % 60 + 1",
    # 1,500 tracks of one to four words, their album and artist chosen by hashes (deterministic)
    "INSERT INTO tracks (id, title, artist_id, album_id, duration_secs, format, content_hash, file_path, file_size, "
    "created_at) "
    "SELECT gen_random_uuid(), "
    "(SELECT string_agg(initcap(w), ' ' ORDER BY k) FROM generate_series(1, 1 + g % 4) k "
    " JOIN words ON i = 1 + abs(hashint4(g * 8 + k)) % 60), "
    "(SELECT id FROM artists ORDER BY id OFFSET abs(hashint4(g)) % 50 LIMIT 1), "
    "(SELECT id FROM albums ORDER BY id OFFSET abs(hashint4(g + 7)) % 60 LIMIT 1), 200, 'flac', "
    "encode(sha256(('rank ' || g)::bytea), 'hex'), 'x/' || g, 1, "
    "timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(0, 1499) g",
]

# The exhaustive ranking: every match scored, sorted by relevance, whole words first, title, id.
_EXHAUSTIVE = {
    "tracks": "SELECT id FROM tracks WHERE search_vector @@ prefix_tsquery(:q) ORDER BY "
    "ts_rank_cd(search_vector, prefix_tsquery(:q)) DESC, search_vector @@ exact_tsquery(:q) DESC, lower(title), id",
    "albums": "SELECT id FROM albums WHERE search_vector @@ prefix_tsquery(:q) ORDER BY "
    "ts_rank_cd(search_vector, prefix_tsquery(:q)) DESC, search_vector @@ exact_tsquery(:q) DESC, lower(title), id",
    "artists": "SELECT id FROM artists WHERE search_vector @@ prefix_tsquery(:q) ORDER BY "
    "ts_rank_cd(search_vector, prefix_tsquery(:q)) DESC, search_vector @@ exact_tsquery(:q) DESC, lower(name), id",
}


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.transaction() as session:
        return list((await session.execute(text(sql), params)).all())


async def _search(client: httpx.AsyncClient, token: str, q: str, limit: int = 20) -> dict[str, Any]:
    response = await client.get("/api/search", params={"q": q, "limit": limit}, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def ordinary(app: FastAPI, client: httpx.AsyncClient) -> str:
    token = await register(client)
    async with context_of(app).db.transaction() as session:
        for statement in _LIBRARY:
            await session.execute(text(statement), {"words": WORDS})
    await _analyze(app)
    return token


async def _analyze(app: FastAPI) -> None:
    """Give the planner this library's statistics, as autovacuum would: the tables were emptied by TRUNCATE after
    earlier tests, which keeps the statistics of what they held (run after tests/p2p, the comparisons below took
    20 s instead of 1 s). The results compared do not depend on the plan."""
    async with context_of(app).db.transaction() as session:
        await session.execute(text("ANALYZE tracks, albums, artists"))


async def test_ordinary_queries_rank_exactly_as_an_exhaustive_sort(
    app: FastAPI, client: httpx.AsyncClient, ordinary: str
) -> None:
    db = context_of(app).db
    pairs = (f"{a} {b}" for a, b in zip(WORDS[30:40], WORDS[40:50], strict=True))
    queries = [*WORDS[:20], *(w[:3] for w in WORDS[20:30]), *pairs]
    compared = 0
    for q in queries:
        matches = await _rows(db, "SELECT count(*) FROM tracks WHERE search_vector @@ prefix_tsquery(:q)", q=q)
        assert matches[0][0] <= CANDIDATES  # ordinary: every match is a candidate
        body = await _search(client, ordinary, q, limit=50)
        for kind in ("tracks", "albums", "artists"):
            expected = [str(row.id) for row in await _rows(db, _EXHAUSTIVE[kind], q=q)][:50]
            assert [item["id"] for item in body[kind]] == expected, (q, kind)
            compared += len(expected)
    assert compared > 1000  # the queries found plenty


async def _search3(client: httpx.AsyncClient, password: str, q: str, **windows: int) -> dict[str, Any]:
    salt = secrets.token_hex(6)
    signed = {"u": "alice", "t": hashlib.md5((password + salt).encode()).hexdigest(), "s": salt, "v": "1.16.1"}
    response = await client.get("/rest/search3", params={**signed, "c": "test", "f": "json", "query": q, **windows})
    body: dict[str, Any] = response.json()["subsonic-response"]
    assert body["status"] == "ok", body
    found: dict[str, Any] = body["searchResult3"]
    return found


async def _app_password(client: httpx.AsyncClient, token: str) -> str:
    created = await client.post("/api/me/app-passwords", json={"name": "phone"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    password: str = created.json()["password"]
    return password


async def test_subsonic_search_ranks_and_pages_as_the_library_search(client: httpx.AsyncClient, ordinary: str) -> None:
    password = await _app_password(client, ordinary)
    pairs = (f"{a} {b}" for a, b in zip(WORDS[30:34], WORDS[40:44], strict=True))
    for q in [*WORDS[:6], *(w[:3] for w in WORDS[20:24]), *pairs]:
        body = await _search(client, ordinary, q, limit=60)
        expected = {kind: [item["id"] for item in body[kind]] for kind in ("tracks", "albums", "artists")}
        for offset, count in ((0, 20), (20, 20), (40, 20), (7, 3)):
            windows = {
                f"{k}{w}": v for k in ("song", "album", "artist") for w, v in (("Offset", offset), ("Count", count))
            }
            found = await _search3(client, password, q, **windows)
            window = slice(offset, offset + count)
            assert [s["id"].removeprefix("tr-") for s in found.get("song", [])] == expected["tracks"][window], q
            assert [a["id"].removeprefix("al-") for a in found.get("album", [])] == expected["albums"][window], q
            assert [a["id"].removeprefix("ar-") for a in found.get("artist", [])] == expected["artists"][window], q


async def test_subsonic_search_of_a_very_common_word_matches_the_library_search(
    client: httpx.AsyncClient, common: str
) -> None:
    password = await _app_password(client, common)
    expected = [t["id"] for t in (await _search(client, common, "love", limit=100))["tracks"]]
    songs = []
    for offset in range(0, 100, 25):
        found = await _search3(client, password, "love", songOffset=offset, songCount=25, albumCount=0, artistCount=0)
        assert found.get("album", []) == []
        songs += [s["id"].removeprefix("tr-") for s in found["song"]]
    assert songs == expected
    # Ranked matches end at 500 per kind: a window past them is empty, one across the end is cut there.
    assert (await _search3(client, password, "love", songOffset=500, songCount=10)).get("song", []) == []
    assert len((await _search3(client, password, "love", songOffset=495, songCount=10))["song"]) == 5


@pytest.fixture
async def common(app: FastAPI, client: httpx.AsyncClient) -> str:
    """1,305 tracks with "love" in their title (one in ten: whole word or prefix), artist (one in twenty) or album
    (the others): more than twice the candidates ranked."""
    token = await register(client)
    statements = [
        "INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Love Inc'), (gen_random_uuid(), 'Someone')",
        "INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), t, (SELECT id FROM artists WHERE name = "
        "'Someone') FROM unnest(ARRAY['Lovers Rock', 'Endless Love', 'Plain']) t",
        # oldest first: 1,300 mixed matches, then, newest, one of each kind the test looks for
        "INSERT INTO tracks (id, title, artist_id, album_id, duration_secs, format, content_hash, file_path, "
        "file_size, created_at) "
        "SELECT gen_random_uuid(), u.title, (SELECT id FROM artists WHERE name = u.artist), "
        "(SELECT id FROM albums WHERE title = u.album), 200, 'flac', encode(sha256(('love ' || u.n)::bytea), 'hex'), "
        "'x/' || u.n, 1, timestamptz '2024-01-01' + u.n * interval '1 second' FROM ("
        "  SELECT g AS n, CASE g % 20 WHEN 0 THEN 'Love ' || g WHEN 1 THEN 'Lovely ' || g WHEN 2 THEN 'Song ' || g "
        "  ELSE 'Tune ' || g END AS title, CASE WHEN g % 20 = 2 THEN 'Love Inc' ELSE 'Someone' END AS artist, "
        "  CASE WHEN g % 20 > 2 THEN 'Endless Love' ELSE 'Plain' END AS album FROM generate_series(1, 1300) g "
        "  UNION ALL VALUES (2001, 'Zebra Love', 'Someone', 'Plain'), (2002, 'A Lovely Day', 'Someone', 'Plain'), "
        "  (2003, 'Nothing', 'Love Inc', 'Plain'), (2004, 'Nothing Else', 'Someone', 'Endless Love'), "
        "  (2005, 'Love Love', 'Someone', 'Plain')"
        ") u",
    ]
    async with context_of(app).db.transaction() as session:
        for statement in statements:
            await session.execute(text(statement))
    return token


async def test_a_very_common_word_is_ranked_among_its_newest_matches(
    app: FastAPI, client: httpx.AsyncClient, common: str
) -> None:
    db = context_of(app).db
    assert (await _rows(db, "SELECT count(*) FROM tracks WHERE search_vector @@ prefix_tsquery('love')"))[0][0] > (
        2 * CANDIDATES
    )
    body = await _search(client, common, "love", limit=100)
    tracks = body["tracks"]
    titles = [t["title"] for t in tracks]
    relevance = [t["relevance"] for t in tracks]
    assert len(tracks) == 100
    assert relevance == sorted(relevance, reverse=True)
    assert titles[0] == "Love Love"  # the word twice in the title
    # Among titles holding the word once: whole word before prefix, then by title.
    once = [t for t in titles if relevance[titles.index(t)] == 1.0]
    assert once.index("Zebra Love") < once.index("A Lovely Day")
    # Title before artist before album.
    assert titles.index("A Lovely Day") < titles.index("Nothing") < titles.index("Nothing Else")
    # The candidates are the newest matches: nothing older than the newest CANDIDATES of them.
    newest = await _rows(
        db,
        "SELECT id FROM tracks WHERE search_vector @@ prefix_tsquery('love') "
        "ORDER BY created_at DESC, id DESC LIMIT :n",
        n=CANDIDATES,
    )
    assert {t["id"] for t in tracks} <= {str(row.id) for row in newest}
    # Every relevance is the track's real score, the scale remote hits are merged on.
    scores = await _rows(
        db, "SELECT id, ts_rank_cd(search_vector, prefix_tsquery('love')) FROM tracks WHERE title = 'Nothing Else'"
    )
    assert next(t["relevance"] for t in tracks if t["title"] == "Nothing Else") == pytest.approx(scores[0][1])


async def test_whole_words_come_before_prefixes_of_equal_relevance(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client)
    statements = [
        "INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Lovelace'), (gen_random_uuid(), 'Love'), "
        "(gen_random_uuid(), 'Nobody')",
        "INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), t, (SELECT id FROM artists WHERE name = "
        "'Nobody') FROM unnest(ARRAY['A Lovely Album', 'Love Album', 'Plain']) t",
        "INSERT INTO tracks (id, title, artist_id, album_id, duration_secs, format, content_hash, file_size) "
        "SELECT gen_random_uuid(), t, (SELECT id FROM artists WHERE name = 'Nobody'), "
        "(SELECT id FROM albums WHERE title = 'Plain'), 200, 'flac', encode(sha256(t::bytea), 'hex'), 1 "
        "FROM unnest(ARRAY['A Lovely Day', 'Love Song']) t",
    ]
    async with context_of(app).db.transaction() as session:
        for statement in statements:
            await session.execute(text(statement))
    body = await _search(client, token, "love")
    # By title alone "a lovely …" sorts first; at equal relevance the whole word wins.
    assert [t["title"] for t in body["tracks"]] == ["Love Song", "A Lovely Day"]
    assert body["tracks"][0]["relevance"] == body["tracks"][1]["relevance"]
    assert [a["title"] for a in body["albums"]] == ["Love Album", "A Lovely Album"]
    assert [a["name"] for a in body["artists"]] == ["Love", "Lovelace"]


async def test_searches_are_planned_with_their_values_from_the_first_statement(db: Database) -> None:
    for search in (repo.search_tracks, repo.search_albums, repo.search_artists):
        async with db.transaction() as session:
            await search(session, "anything", 5)
            # A prepared statement would switch to a generic plan after five runs, computing prefix_tsquery(…) per
            # row and choosing its plan without knowing how common the words are.
            assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == "force_custom_plan"
        async with db.transaction() as session:  # only for the search's own transaction
            assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == "auto"
