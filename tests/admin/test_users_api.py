"""Users administration: list, create, role, disable / enable, password reset, and the last-admin guard."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from soundtime.models import User
from tests.support.api import DEFAULT_PASSWORD, bearer, context_of, register

USERS = "/api/admin/users"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert response.json()["error"]["code"] == code


async def login(client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": username, "password": password})


async def create(client: httpx.AsyncClient, admin: dict[str, str], username: str, role: str = "user") -> dict[str, Any]:
    response = await client.post(
        USERS, json={"username": username, "password": DEFAULT_PASSWORD, "role": role}, headers=admin
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def signed_in(client: httpx.AsyncClient, username: str) -> tuple[dict[str, str], str]:
    """(access header, refresh token) of a fresh session."""
    response = await login(client, username)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"]), response.json()["refresh_token"]


async def test_only_administrators_manage_users(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    await create(client, admin, "bob")
    user, _ = await signed_in(client, "bob")
    some = uuid.uuid4()
    routes = [
        ("GET", USERS, None),
        ("POST", USERS, {"username": "eve", "password": DEFAULT_PASSWORD}),
        ("GET", f"{USERS}/{some}", None),
        ("PATCH", f"{USERS}/{some}", {"role": "admin"}),
        ("POST", f"{USERS}/{some}/password", {"password": DEFAULT_PASSWORD}),
    ]
    for method, path, body in routes:
        assert_error(await client.request(method, path, json=body), 401, "unauthorized")
        assert_error(await client.request(method, path, json=body, headers=user), 403, "forbidden")
    assert (await login(client, "eve")).status_code == 401  # nothing was created on a refused request


async def test_create_list_and_page_through_accounts(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    created = await create(client, admin, "Zoe", role="admin")
    assert created["role"] == "admin"
    assert created["disabled"] is False
    assert created["disabled_at"] is None
    assert created["last_login_at"] is None
    for name in ("bob", "Carol", "dave", "alice"):
        await create(client, admin, name)
    assert_error(
        await client.post(USERS, json={"username": "BOB", "password": DEFAULT_PASSWORD}, headers=admin),
        409,
        "username_taken",
    )
    for body in (
        {"username": "x", "password": DEFAULT_PASSWORD},
        {"username": "frank", "password": "short"},
        {"username": "frank", "password": DEFAULT_PASSWORD, "role": "root"},
        {"username": "frank", "password": DEFAULT_PASSWORD, "extra": 1},
    ):
        assert_error(await client.post(USERS, json=body, headers=admin), 422, "invalid")
    # Registration is closed, yet the administrator's accounts can sign in.
    assert (await login(client, "Carol")).status_code == 200

    names: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(USERS, params=params, headers=admin)).json()
        names += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["admin", "alice", "bob", "Carol", "dave", "Zoe"]
    assert_error(await client.get(USERS, params={"cursor": "nonsense!"}, headers=admin), 400, "invalid_cursor")
    one = (await client.get(f"{USERS}/{created['id']}", headers=admin)).json()
    assert one == created
    for method, path, body in (
        ("GET", f"{USERS}/{uuid.uuid4()}", None),
        ("PATCH", f"{USERS}/{uuid.uuid4()}", {"disabled": True}),
        ("POST", f"{USERS}/{uuid.uuid4()}/password", {"password": DEFAULT_PASSWORD}),
    ):
        assert_error(await client.request(method, path, json=body, headers=admin), 404, "user_not_found")
    assert_error(await client.get(f"{USERS}/not-a-uuid", headers=admin), 422, "invalid")


async def test_role_changes_take_effect_at_once(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    bob = await create(client, admin, "bob")
    headers, _ = await signed_in(client, "bob")
    assert (await client.get("/api/admin/stats", headers=headers)).status_code == 403
    promoted = await client.patch(f"{USERS}/{bob['id']}", json={"role": "admin"}, headers=admin)
    assert promoted.json()["role"] == "admin"
    assert (await client.get("/api/admin/stats", headers=headers)).status_code == 200  # the same token
    await client.patch(f"{USERS}/{bob['id']}", json={"role": "user"}, headers=admin)
    assert (await client.get("/api/admin/stats", headers=headers)).status_code == 403
    assert_error(await client.patch(f"{USERS}/{bob['id']}", json={"role": "owner"}, headers=admin), 422, "invalid")


async def test_a_disabled_account_cannot_sign_in_or_use_its_tokens(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    bob = await create(client, admin, "bob")
    headers, refresh = await signed_in(client, "bob")
    assert (await client.get("/api/search", params={"q": "x"}, headers=headers)).status_code == 200

    disabled = await client.patch(f"{USERS}/{bob['id']}", json={"disabled": True}, headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    assert disabled.json()["disabled_at"] is not None
    # Routes that load the account, and routes that trust the token's signature (search, streams), refuse it.
    assert_error(await client.get("/api/auth/me", headers=headers), 401, "account_disabled")
    assert_error(await client.get("/api/search", params={"q": "x"}, headers=headers), 401, "account_disabled")
    assert_error(await client.get(f"/api/tracks/{uuid.uuid4()}/stream", headers=headers), 401, "account_disabled")
    assert_error(await client.post("/api/auth/refresh", json={"refresh_token": refresh}), 401, "account_disabled")
    assert_error(await login(client, "bob"), 403, "account_disabled")
    assert_error(await login(client, "bob", "wrong password!"), 401, "invalid_credentials")  # no hint without it

    enabled = await client.patch(f"{USERS}/{bob['id']}", json={"disabled": False}, headers=admin)
    assert enabled.json()["disabled"] is False
    # Enabling lets the account sign in again; the sessions signed out by disabling stay signed out.
    assert_error(await client.get("/api/auth/me", headers=headers), 401, "token_revoked")
    assert_error(await client.post("/api/auth/refresh", json={"refresh_token": refresh}), 401, "token_revoked")
    fresh, _ = await signed_in(client, "bob")
    assert (await client.get("/api/auth/me", headers=fresh)).status_code == 200


async def test_a_password_reset_signs_every_session_out(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    bob = await create(client, admin, "bob")
    headers, refresh = await signed_in(client, "bob")
    other, _ = await signed_in(client, "bob")
    reset = await client.post(f"{USERS}/{bob['id']}/password", json={"password": "a brand new password"}, headers=admin)
    assert reset.status_code == 204
    for session in (headers, other):
        assert_error(await client.get("/api/auth/me", headers=session), 401, "token_revoked")
        assert_error(await client.get("/api/search", params={"q": "x"}, headers=session), 401, "token_revoked")
    assert_error(await client.post("/api/auth/refresh", json={"refresh_token": refresh}), 401, "token_revoked")
    assert_error(await login(client, "bob"), 401, "invalid_credentials")
    assert (await login(client, "bob", "a brand new password")).status_code == 200
    assert_error(
        await client.post(f"{USERS}/{bob['id']}/password", json={"password": "short"}, headers=admin), 422, "invalid"
    )
    # The administrator's own session is untouched.
    assert (await client.get("/api/auth/me", headers=admin)).status_code == 200


async def test_the_last_active_administrator_cannot_be_demoted_or_disabled(client: httpx.AsyncClient) -> None:
    admin = bearer(await register(client, "admin"))
    me = (await client.get("/api/auth/me", headers=admin)).json()
    for change in ({"role": "user"}, {"disabled": True}, {"role": "user", "disabled": True}):
        assert_error(await client.patch(f"{USERS}/{me['id']}", json=change, headers=admin), 409, "last_admin")
    # A disabled administrator does not count: with only one, the other is still the last active one.
    second = await create(client, admin, "second", role="admin")
    await client.patch(f"{USERS}/{second['id']}", json={"disabled": True}, headers=admin)
    assert_error(await client.patch(f"{USERS}/{me['id']}", json={"role": "user"}, headers=admin), 409, "last_admin")
    # With another active administrator, stepping down is allowed (and takes effect at once).
    await client.patch(f"{USERS}/{second['id']}", json={"disabled": False}, headers=admin)
    stepped = await client.patch(f"{USERS}/{me['id']}", json={"role": "user"}, headers=admin)
    assert stepped.status_code == 200, stepped.text
    assert_error(await client.get(USERS, headers=admin), 403, "forbidden")
    # A no-op change on the last admin is fine.
    second_headers, _ = await signed_in(client, "second")
    unchanged = await client.patch(f"{USERS}/{second['id']}", json={"role": "admin"}, headers=second_headers)
    assert unchanged.status_code == 200


async def test_two_administrators_demoting_each_other_at_once_leave_one(client: httpx.AsyncClient) -> None:
    first = bearer(await register(client, "first"))
    first_id = (await client.get("/api/auth/me", headers=first)).json()["id"]
    second = await create(client, first, "second", role="admin")
    second_headers, _ = await signed_in(client, "second")
    results = await asyncio.gather(
        client.patch(f"{USERS}/{second['id']}", json={"role": "user"}, headers=first),
        client.patch(f"{USERS}/{first_id}", json={"role": "user"}, headers=second_headers),
    )
    # One demotion wins. The other is refused: as the last administrator's (409), or, when the winner's change
    # committed before the loser's request was authorised, because its sender is no administrator any more (403).
    assert sorted(r.status_code for r in results) in ([200, 403], [200, 409])
    survivor = first if results[0].status_code == 200 else second_headers
    admins = [u for u in (await client.get(USERS, headers=survivor)).json()["items"] if u["role"] == "admin"]
    assert len(admins) == 1


async def test_changes_made_elsewhere_reach_token_only_routes_within_seconds(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = bearer(await register(client, "admin"))
    await create(client, admin, "bob")
    headers, _ = await signed_in(client, "bob")
    assert (await client.get("/api/search", params={"q": "x"}, headers=headers)).status_code == 200
    context = context_of(app)
    async with context.db.transaction() as session:  # as `soundtime user set-password` in another process does
        await session.execute(
            update(User).where(User.username == "bob").values(token_generation=User.token_generation + 1)
        )
    context.account_gate.refresh_seconds = 0  # the gate re-reads at most every 2 s; here at once
    assert_error(await client.get("/api/search", params={"q": "x"}, headers=headers), 401, "token_revoked")
