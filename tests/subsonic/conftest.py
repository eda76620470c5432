"""A library, two listeners with app passwords and API keys, and a Subsonic client that signs its requests."""

from __future__ import annotations

import hashlib
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.p2p.conftest import instance_databases, start_instance  # noqa: F401 - federation fixtures
from tests.support.api import bearer, open_registration, register, upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_jpeg, make_cover_png

NS = "{http://subsonic.org/restapi}"


@dataclass
class Account:
    """A user, their access token for /api and their client credentials for /rest."""

    username: str
    token: str
    app_password: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@dataclass
class Library:
    """Alice (admin, uploaded everything), Bob, and the uploaded tracks by title (as /api shows them)."""

    client: httpx.AsyncClient
    alice: Account
    bob: Account
    tracks: dict[str, dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)

    def token_params(self, account: Account | None = None) -> dict[str, str]:
        """u, t, s, v, c for token authentication with the account's app password."""
        account = account or self.alice
        salt = secrets.token_hex(6)
        token = hashlib.md5((account.app_password + salt).encode()).hexdigest()
        return {"u": account.username, "t": token, "s": salt, "v": "1.16.1", "c": "tests"}

    async def call(self, endpoint: str, account: Account | None = None, **params: Any) -> httpx.Response:
        """GET /rest/<endpoint> signed with a token."""
        return await self.client.get(f"/rest/{endpoint}", params={**self.token_params(account), **params})

    async def json(self, endpoint: str, account: Account | None = None, **params: Any) -> dict[str, Any]:
        """The ``subsonic-response`` of a JSON call (any status)."""
        response = await self.call(endpoint, account, f="json", **params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body: dict[str, Any] = response.json()["subsonic-response"]
        return body

    async def ok(self, endpoint: str, account: Account | None = None, **params: Any) -> dict[str, Any]:
        """A JSON call that must succeed."""
        body = await self.json(endpoint, account, **params)
        assert body["status"] == "ok", body
        return body

    async def xml(self, endpoint: str, account: Account | None = None, **params: Any) -> ET.Element:
        """The root element of an XML call (parsed: it must be well-formed)."""
        response = await self.call(endpoint, account, **params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        return ET.fromstring(response.content)

    def sid(self, title: str) -> str:
        """The Subsonic id of a track."""
        return f"tr-{self.tracks[title]['id']}"


SPECS = [
    TrackSpec(
        title="Intro",
        artist="Nova",
        album="First Light",
        track_number=1,
        year=2001,
        genre="Ambient",
        cover=make_cover_jpeg(3, size=64),
    ),
    TrackSpec(
        title="Dawn",
        artist="Nova",
        album="First Light",
        track_number=2,
        year=2001,
        genre="Ambient",
        cover=make_cover_jpeg(3, size=64),
    ),
    TrackSpec(
        title="Tide",
        artist="The Marées",
        album="Coast",
        track_number=1,
        year=1999,
        genre="Folk",
        cover=make_cover_png(5),
    ),
    TrackSpec(
        title="Harbour",
        artist="The Marées",
        album="Coast",
        track_number=2,
        year=1999,
        genre="Folk",
        cover=make_cover_png(5),
    ),
    TrackSpec(title="Loose", artist="Zed", album=None, genre="Folk"),
]


async def make_account(client: httpx.AsyncClient, username: str) -> Account:
    token = await register(client, username)
    password = (await client.post("/api/me/app-passwords", json={"name": "tests"}, headers=bearer(token))).json()
    key = (await client.post("/api/me/api-keys", json={"name": "tests"}, headers=bearer(token))).json()
    return Account(username, token, password["password"], key["key"])


@pytest.fixture
async def library(client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> Library:
    alice = await make_account(client, "alice")
    await open_registration(client, alice.token)
    bob = await make_account(client, "bob")
    tracks, files = {}, {}
    for index, spec in enumerate(SPECS):
        fmt = "flac" if index == 0 else "mp3"
        path = audio.make(tmp_path / f"{index}.{fmt}", fmt, spec)
        response = await upload(client, alice.token, path)
        assert response.status_code == 201, response.text
        tracks[spec.title] = response.json()["track"]
        files[spec.title] = path
    return Library(client, alice, bob, tracks, files)
