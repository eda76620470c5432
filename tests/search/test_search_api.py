"""Full-text search: weights (title > artist > album), prefixes, ranking, hostile input."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from soundtime.kit.db import Database
from tests.support.api import DEFAULT_PASSWORD, bearer, register, upload
from tests.support.audio import AudioFactory, TrackSpec


@pytest.fixture
async def library(client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> str:
    token = await register(client)
    specs = [
        TrackSpec(title="Bohemian Rhapsody", artist="Queen", album="A Night at the Opera"),
        TrackSpec(title="Under Pressure", artist="Queen", album="Hot Space"),
        TrackSpec(title="Opera Song", artist="Someone", album="Misc"),
        TrackSpec(title="Something", artist="The Opera Band", album="Records"),
        TrackSpec(title="Other", artist="Nobody", album="Opera Collection"),
        TrackSpec(title="Café del Mar", artist="Energy 52", album="Trance"),
        TrackSpec(title="日本の歌", artist="歌手", album="アルバム"),
        TrackSpec(title="Thunderstruck", artist="AC/DC", album="The Razors Edge"),
        TrackSpec(title="All the Small Things", artist="Blink-182", album="Enema of the State"),
        TrackSpec(title="Kingdom Hearts 1.5 Remix", artist="Yoko Shimomura", album="O'Brien's \\ Mix"),
    ]
    for index, spec in enumerate(specs):
        assert (await upload(client, token, audio.make(tmp_path / f"{index}.mp3", "mp3", spec))).status_code == 201
    return token


async def search(client: httpx.AsyncClient, token: str, q: str) -> dict[str, list[dict[str, object]]]:
    response = await client.get("/api/search", params={"q": q}, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, list[dict[str, object]]] = response.json()
    return body


async def test_title_outranks_artist_outranks_album(client: httpx.AsyncClient, library: str) -> None:
    result = await search(client, library, "opera")
    titles = [t["title"] for t in result["tracks"]]
    assert titles.index("Opera Song") < titles.index("Something") < titles.index("Other")
    relevance = [t["relevance"] for t in result["tracks"]]
    assert relevance == sorted(relevance, reverse=True)
    assert {a["title"] for a in result["albums"]} == {"A Night at the Opera", "Opera Collection"}
    assert [a["name"] for a in result["artists"]] == ["The Opera Band"]


async def test_prefixes_and_all_terms_must_match(client: httpx.AsyncClient, library: str) -> None:
    assert [t["title"] for t in (await search(client, library, "bohem rhap"))["tracks"]] == ["Bohemian Rhapsody"]
    assert [t["title"] for t in (await search(client, library, "queen pressure"))["tracks"]] == ["Under Pressure"]
    assert (await search(client, library, "queen jazz"))["tracks"] == []


async def test_unicode_and_case(client: httpx.AsyncClient, library: str) -> None:
    assert [t["title"] for t in (await search(client, library, "CAFÉ"))["tracks"]] == ["Café del Mar"]
    assert [t["title"] for t in (await search(client, library, "日本の歌"))["tracks"]] == ["日本の歌"]


@pytest.mark.parametrize(
    ("q", "title"),
    [
        ("AC/DC", "Thunderstruck"),
        ("ac/dc thunder", "Thunderstruck"),
        ("blink 182", "All the Small Things"),
        ("Blink-182", "All the Small Things"),
        ("1.5", "Kingdom Hearts 1.5 Remix"),
        ("o'brien's", "Kingdom Hearts 1.5 Remix"),
    ],
)
async def test_punctuated_names_match_as_indexed(client: httpx.AsyncClient, library: str, q: str, title: str) -> None:
    assert [t["title"] for t in (await search(client, library, q))["tracks"]] == [title]


@pytest.mark.parametrize("q", ["'", "&&", "a:*", "!(x|y)", "\\", "<->", "'; DROP TABLE tracks; --", "_", "   "])
async def test_tsquery_syntax_in_input_is_harmless(client: httpx.AsyncClient, library: str, q: str) -> None:
    result = await search(client, library, q)
    assert isinstance(result["tracks"], list)


async def test_query_validation(client: httpx.AsyncClient, library: str) -> None:
    assert (await client.get("/api/search", params={"q": ""}, headers=bearer(library))).status_code == 422
    assert (await client.get("/api/search", params={"q": "x" * 201}, headers=bearer(library))).status_code == 422
    assert (await client.get("/api/search", params={"q": "\x00abc"}, headers=bearer(library))).status_code == 422
    limited = await client.get("/api/search", params={"q": "o", "limit": 1}, headers=bearer(library))
    assert len(limited.json()["tracks"]) == 1


@pytest.mark.parametrize("include_p2p", [False, True])
async def test_a_token_of_an_account_that_no_longer_exists_is_refused(
    client: httpx.AsyncClient, library: str, db: Database, include_p2p: bool
) -> None:
    created = await client.post(
        "/api/admin/users", json={"username": "bob", "password": DEFAULT_PASSWORD}, headers=bearer(library)
    )
    assert created.status_code == 201, created.text
    signed = await client.post("/api/auth/login", json={"username": "bob", "password": DEFAULT_PASSWORD})
    bob = signed.json()["access_token"]
    params = {"q": "opera", "include_p2p": str(include_p2p).lower()}
    assert (await client.get("/api/search", params=params, headers=bearer(bob))).status_code == 200
    async with db.transaction() as session:
        await session.execute(text("DELETE FROM users WHERE username = 'bob'"))
    response = await client.get("/api/search", params=params, headers=bearer(bob))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
