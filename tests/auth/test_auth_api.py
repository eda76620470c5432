"""Accounts over HTTP: registration rules, login, token rotation and revocation, rate limits."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select, update
from starlette.requests import Request

from soundtime.auth.dependencies import client_key
from soundtime.auth.passwords import Passwords
from soundtime.auth.throttle import LoginThrottle
from soundtime.kit.errors import ServiceUnavailable
from soundtime.models import RefreshToken, User
from tests.conftest import TEST_JWT_SECRET
from tests.support.api import DEFAULT_PASSWORD, bearer, context_of, error_code, open_registration, register


async def test_first_account_is_admin_then_registration_is_closed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json={"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["role"] == "admin"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900

    second = await client.post("/api/auth/register", json={"username": "bob", "password": DEFAULT_PASSWORD})
    assert second.status_code == 403
    assert error_code(second) == "registration_closed"

    await open_registration(client, body["access_token"])
    third = await client.post("/api/auth/register", json={"username": "bob", "password": DEFAULT_PASSWORD})
    assert third.status_code == 201
    assert third.json()["user"]["role"] == "user"


async def test_usernames_are_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    admin = await register(client, "alice")
    await open_registration(client, admin)
    response = await client.post("/api/auth/register", json={"username": "ALICE", "password": DEFAULT_PASSWORD})
    assert response.status_code == 409
    assert error_code(response) == "username_taken"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "al", "password": DEFAULT_PASSWORD},
        {"username": "alice smith", "password": DEFAULT_PASSWORD},
        {"username": "alice", "password": "short"},
        {"username": "alice", "password": "x" * 257},
        {"username": "alice"},
        {"username": "alice", "password": DEFAULT_PASSWORD, "role": "admin"},
    ],
)
async def test_invalid_registrations_are_422_with_the_field(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["details"][0]["field"]


async def test_passwords_are_stored_as_argon2id(client: httpx.AsyncClient, app: FastAPI) -> None:
    await register(client, "alice")
    async with context_of(app).db.transaction() as session:
        stored = (await session.execute(select(User.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in stored


def test_default_hasher_uses_rfc9106_parameters() -> None:
    encoded = Passwords().hash("a password")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert Passwords().needs_rehash(Passwords(PasswordHasher(time_cost=1, memory_cost=1024)).hash("x"))


async def test_login_and_me(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    response = await client.post("/api/auth/login", json={"username": "Alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    me = await client.get("/api/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong password"), ("nobody", DEFAULT_PASSWORD)])
async def test_bad_credentials_are_one_401(client: httpx.AsyncClient, username: str, password: str) -> None:
    await register(client, "alice")
    response = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer nonsense",
        "Basic abc",
        "Bearer " + jwt.encode({"sub": "x"}, "another-secret-of-sufficient-length-xx", algorithm="HS256"),
    ],
)
async def test_me_requires_a_valid_token(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_and_refresh_tokens_are_refused_as_access(client: httpx.AsyncClient, app: FastAPI) -> None:
    await register(client, "alice")
    tokens = context_of(app).tokens
    user_id = uuid.uuid4()
    expired, _ = tokens.issue(user_id, "user", "access", now=datetime.now(UTC) - timedelta(hours=1))
    response = await client.get("/api/auth/me", headers=bearer(expired))
    assert error_code(response) == "token_expired"
    refresh, _ = tokens.issue(user_id, "user", "refresh")
    assert (await client.get("/api/auth/me", headers=bearer(refresh))).status_code == 401


async def test_refresh_rotates_and_reuse_signs_everything_out(client: httpx.AsyncClient, app: FastAPI) -> None:
    first = (await client.post("/api/auth/register", json={"username": "alice", "password": DEFAULT_PASSWORD})).json()
    rotated = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/auth/me", headers=bearer(second["access_token"]))).status_code == 200

    # Replayed after the grace window: treated as stolen.
    async with context_of(app).db.transaction() as session:
        await session.execute(update(RefreshToken).values(revoked_at=RefreshToken.revoked_at - timedelta(minutes=5)))
    reused = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert error_code(reused) == "token_reused"
    # The family is revoked: the newest refresh token no longer works either, and this survived the 401.
    after = await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    async with context_of(app).db.transaction() as session:
        live = (await session.execute(select(RefreshToken).where(RefreshToken.revoked_at.is_(None)))).all()
    assert live == []


async def test_concurrent_refreshes_of_one_token_both_succeed(client: httpx.AsyncClient) -> None:
    pair = (await client.post("/api/auth/register", json={"username": "alice", "password": DEFAULT_PASSWORD})).json()
    body = {"refresh_token": pair["refresh_token"]}
    first, second = await asyncio.gather(
        client.post("/api/auth/refresh", json=body), client.post("/api/auth/refresh", json=body)
    )
    assert (first.status_code, second.status_code) == (200, 200)
    for response in (first, second):
        again = await client.post("/api/auth/refresh", json={"refresh_token": response.json()["refresh_token"]})
        assert again.status_code == 200


async def test_reuse_within_grace_after_a_reuse_alarm_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    first = (await client.post("/api/auth/register", json={"username": "alice", "password": DEFAULT_PASSWORD})).json()
    second = (await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    third = (await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})).json()
    async with context_of(app).db.transaction() as session:  # only the first rotation is old
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.replaced_by.is_not(None))
            .values(revoked_at=RefreshToken.revoked_at - timedelta(minutes=5))
        )
    assert (await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).status_code == 401
    # the alarm revoked the family: even a token inside its grace window no longer gets a new pair
    for token in (second["refresh_token"], third["refresh_token"]):
        assert (await client.post("/api/auth/refresh", json={"refresh_token": token})).status_code == 401


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    pair = (await client.post("/api/auth/register", json={"username": "alice", "password": DEFAULT_PASSWORD})).json()
    assert (await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})).status_code == 204
    response = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401


async def test_tokens_are_signed_with_the_configured_secret(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"], issuer="soundtime")
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900


GOOD = {"username": "alice", "password": DEFAULT_PASSWORD}


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_failed_logins_brake_an_account_but_not_from_the_owners_address(app: FastAPI) -> None:
    async with client_at(app, "198.51.100.1") as owner:
        await register(owner, "alice")
        assert (
            await owner.post("/api/auth/login", json={"username": "alice", "password": DEFAULT_PASSWORD})
        ).status_code == 200
    context_of(app).login_throttle._failures.limit = 2
    for address in ("203.0.113.1", "203.0.113.2"):  # an attacker spreading guesses over addresses
        async with client_at(app, address) as attacker:
            wrong = {"username": "ALICE", "password": "wrong password"}
            assert (await attacker.post("/api/auth/login", json=wrong)).status_code == 401
    async with client_at(app, "203.0.113.3") as attacker:
        braked = await attacker.post("/api/auth/login", json=GOOD)
        assert braked.status_code == 429
        assert "account" in braked.json()["error"]["message"]
    async with client_at(app, "198.51.100.1") as owner:  # the owner's familiar address still gets in
        assert (
            await owner.post("/api/auth/login", json={"username": "alice", "password": DEFAULT_PASSWORD})
        ).status_code == 200


def test_login_throttle_forgets_old_failures() -> None:
    now = [0.0]
    throttle = LoginThrottle(2, clock=lambda: now[0])
    throttle.failed("Bob")
    throttle.failed("bob")
    assert throttle.retry_after("BOB", "203.0.113.9") == 60.0
    now[0] = 61.0
    assert throttle.retry_after("bob", "203.0.113.9") == 0.0


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
    ],
)
def test_rate_limit_keys_group_an_ipv6_host(host: str, key: str) -> None:
    request = Request({"type": "http", "client": (host, 1234), "headers": []})
    assert client_key(request) == key


async def test_password_hashing_is_bounded() -> None:
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), max_concurrent=1, wait=0.05)
    await passwords._slots.acquire()  # a hash is running
    with pytest.raises(ServiceUnavailable):
        await passwords.hash_async("a password")
    passwords._slots.release()
    assert await passwords.verify_async(await passwords.hash_async("a password"), "a password")


async def test_login_is_rate_limited_per_address(client: httpx.AsyncClient, app: FastAPI) -> None:
    await register(client, "alice")
    limiter = context_of(app).auth_limiter
    limiter.limit = 3
    statuses = [
        (await client.post("/api/auth/login", json={"username": "alice", "password": "wrong password"})).status_code
        for _ in range(4)
    ]
    assert statuses[-1] == 429
    limited = await client.post("/api/auth/login", json={"username": "alice", "password": DEFAULT_PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert error_code(limited) == "rate_limited"


async def test_admin_routes_need_the_admin_role(client: httpx.AsyncClient) -> None:
    admin = await register(client, "alice")
    await open_registration(client, admin)
    user = await register(client, "bob")
    assert (await client.get("/api/admin/stats", headers=bearer(user))).status_code == 403
    stats = await client.get("/api/admin/stats", headers=bearer(admin))
    assert stats.status_code == 200
    assert stats.json()["users"] == 2
