"""App passwords and API keys: created by their owner (shown once), listed, revoked; sealed with the server key."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from soundtime.credentials import crypto
from soundtime.models import ApiKey, AppPassword
from tests.support.api import bearer, context_of, error_code, open_registration, register


async def test_an_app_password_is_shown_once_listed_and_revoked(client: httpx.AsyncClient, app: FastAPI) -> None:
    alice = bearer(await register(client, "alice"))
    created = await client.post("/api/me/app-passwords", json={"name": "Phone (DSub)"}, headers=alice)
    assert created.status_code == 201, created.text
    body = created.json()
    password = body["password"]
    assert len(password) == 23
    assert password.count("-") == 3
    assert body["connection"] == {"server_url": "http://testserver", "username": "alice", "password": password}
    listed = (await client.get("/api/me/app-passwords", headers=alice)).json()
    assert listed == [
        {"id": body["id"], "name": "Phone (DSub)", "created_at": body["created_at"], "last_used_at": None}
    ]

    async with context_of(app).db.transaction() as session:
        sealed = (await session.execute(select(AppPassword.sealed))).scalar_one()
    assert password.encode() not in sealed  # stored encrypted, not in clear
    assert password.replace("-", "").encode() not in sealed

    revoked = await client.delete(f"/api/me/app-passwords/{body['id']}", headers=alice)
    assert revoked.status_code == 204
    assert (await client.get("/api/me/app-passwords", headers=alice)).json() == []
    again = await client.delete(f"/api/me/app-passwords/{body['id']}", headers=alice)
    assert again.status_code == 404


async def test_api_keys_are_kept_hashed(client: httpx.AsyncClient, app: FastAPI) -> None:
    alice = bearer(await register(client, "alice"))
    created = (await client.post("/api/me/api-keys", json={"name": "Feishin"}, headers=alice)).json()
    key = created["key"]
    assert key.startswith("st_")
    assert len(key) > 40
    assert created["prefix"] == key[:10]
    assert created["server_url"] == "http://testserver"
    listed = (await client.get("/api/me/api-keys", headers=alice)).json()
    assert [k["name"] for k in listed] == ["Feishin"]
    assert "key" not in listed[0]
    async with context_of(app).db.transaction() as session:
        stored = (await session.execute(select(ApiKey.key_hash))).scalar_one()
    assert stored == crypto.api_key_hash(key)
    assert key not in stored
    assert (await client.delete(f"/api/me/api-keys/{created['id']}", headers=alice)).status_code == 204


async def test_credentials_belong_to_their_owner(client: httpx.AsyncClient) -> None:
    alice = bearer(await register(client, "alice"))
    await open_registration(client, alice["Authorization"].split()[1])
    bob = bearer(await register(client, "bob"))
    mine = (await client.post("/api/me/app-passwords", json={"name": "a"}, headers=alice)).json()
    key = (await client.post("/api/me/api-keys", json={"name": "k"}, headers=alice)).json()
    assert (await client.get("/api/me/app-passwords", headers=bob)).json() == []
    assert (await client.get("/api/me/api-keys", headers=bob)).json() == []
    stolen = await client.delete(f"/api/me/app-passwords/{mine['id']}", headers=bob)
    assert stolen.status_code == 404
    assert error_code(stolen) == "app_password_not_found"
    assert (await client.delete(f"/api/me/api-keys/{key['id']}", headers=bob)).status_code == 404
    assert len((await client.get("/api/me/app-passwords", headers=alice)).json()) == 1
    assert (await client.get("/api/me/app-passwords")).status_code == 401


async def test_names_and_counts_are_bounded(client: httpx.AsyncClient) -> None:
    alice = bearer(await register(client, "alice"))
    for bad in ("", "   ", "x" * 65, "tab\there"):
        response = await client.post("/api/me/app-passwords", json={"name": bad}, headers=alice)
        assert response.status_code == 422, bad
    for index in range(50):
        assert (await client.post("/api/me/api-keys", json={"name": f"k{index}"}, headers=alice)).status_code == 201
    full = await client.post("/api/me/api-keys", json={"name": "one more"}, headers=alice)
    assert full.status_code == 409
    assert error_code(full) == "too_many_api_keys"


def test_a_sealed_password_opens_only_for_its_user_with_its_key(tmp_path: Path) -> None:
    box = crypto.SecretBox.from_data_dir(tmp_path)
    key_file = tmp_path / crypto.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    same = crypto.SecretBox.from_data_dir(tmp_path)  # the key is kept: a restart opens what was sealed
    alice, bob = uuid.uuid4(), uuid.uuid4()
    sealed = box.seal(alice, "abcde-fghjk")
    assert same.open(alice, sealed) == "abcde-fghjk"
    assert box.open(bob, sealed) is None
    assert crypto.SecretBox(b"\x01" * 32).open(alice, sealed) is None
    assert box.open(alice, sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert box.open(alice, b"short") is None
    assert box.seal(alice, "x") != box.seal(alice, "x")  # a fresh nonce each time
