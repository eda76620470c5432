"""The browser's sessions: the refresh token in an HttpOnly cookie, used only when the client asks for it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from soundtime.auth.cookies import REFRESH_COOKIE
from tests.conftest import asgi_client
from tests.support.api import DEFAULT_PASSWORD, bearer, error_code, open_registration, register

COOKIE_MODE = {"X-Refresh-Cookie": "true"}
CREDENTIALS = {"username": "alice", "password": DEFAULT_PASSWORD}


def set_cookie(response: httpx.Response) -> str:
    [header] = [value for name, value in response.headers.multi_items() if name == "set-cookie"]
    return header


async def test_login_puts_the_refresh_token_in_a_strict_httponly_cookie_only(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post("/api/auth/login", json=CREDENTIALS, headers=COOKIE_MODE)
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] is None
    assert body["access_token"]
    cookie = set_cookie(response)
    assert cookie.startswith(f"{REFRESH_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "Path=/api/auth" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP (a LAN): a Secure cookie would never come back
    assert (await client.get("/api/auth/me", headers=bearer(body["access_token"]))).status_code == 200


async def test_without_the_header_the_json_api_is_unchanged(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post("/api/auth/login", json=CREDENTIALS)
    assert response.json()["refresh_token"]
    assert "set-cookie" not in response.headers


async def test_refresh_rotates_the_cookie_and_the_old_one_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    await register(client)
    await client.post("/api/auth/login", json=CREDENTIALS, headers=COOKIE_MODE)
    first = client.cookies[REFRESH_COOKIE]
    rotated = await client.post("/api/auth/refresh", headers=COOKIE_MODE)
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] is None
    assert rotated.json()["user"]["username"] == "alice"
    second = client.cookies[REFRESH_COOKIE]
    assert second != first

    # The first cookie again, after its one concurrent-tab reissue: taken as stolen, every session ends.
    async with asgi_client(app) as thief:
        stolen = {**COOKIE_MODE, "Cookie": f"{REFRESH_COOKIE}={first}"}
        await thief.post("/api/auth/refresh", headers=stolen)  # within the grace: reissued once
        reused = await thief.post("/api/auth/refresh", headers=stolen)
    assert reused.status_code == 401
    assert error_code(reused) == "token_reused"
    assert set_cookie(reused).startswith(f"{REFRESH_COOKIE}=")
    assert "Max-Age=0" in set_cookie(reused)
    assert (await client.post("/api/auth/refresh", headers=COOKIE_MODE)).status_code == 401


async def test_the_cookie_is_ignored_without_the_header(client: httpx.AsyncClient) -> None:
    """A cross-site form can make the browser send the cookie, but not the header: nothing happens."""
    await register(client)
    await client.post("/api/auth/login", json=CREDENTIALS, headers=COOKIE_MODE)
    response = await client.post("/api/auth/refresh")
    assert response.status_code == 422
    assert (await client.post("/api/auth/logout")).status_code == 422
    assert (await client.post("/api/auth/refresh", headers=COOKIE_MODE)).status_code == 200  # still signed in


async def test_no_cookie_is_a_clear_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/refresh", headers=COOKIE_MODE)
    assert response.status_code == 401
    assert error_code(response) == "no_session"
    garbage = await client.post("/api/auth/refresh", headers={**COOKIE_MODE, "Cookie": f"{REFRESH_COOKIE}=x.y.z"})
    assert garbage.status_code == 401
    assert "Max-Age=0" in set_cookie(garbage)  # a cookie that cannot work is deleted


async def test_logout_revokes_and_deletes_the_cookie(client: httpx.AsyncClient) -> None:
    await register(client)
    await client.post("/api/auth/login", json=CREDENTIALS, headers=COOKIE_MODE)
    token = client.cookies[REFRESH_COOKIE]
    response = await client.post("/api/auth/logout", headers=COOKIE_MODE)
    assert response.status_code == 204
    assert "Max-Age=0" in set_cookie(response)
    assert REFRESH_COOKIE not in client.cookies
    replay = await client.post("/api/auth/refresh", headers={**COOKIE_MODE, "Cookie": f"{REFRESH_COOKIE}={token}"})
    assert replay.status_code == 401


async def test_over_https_the_cookie_is_secure(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://soundtime.example") as secure:
        response = await secure.post("/api/auth/register", json=CREDENTIALS, headers=COOKIE_MODE)
    assert response.status_code == 201
    assert "Secure" in set_cookie(response)


async def test_registration_says_whether_it_is_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/auth/registration")).json() == {"open": True, "first_account": True}
    admin = await register(client)
    assert (await client.get("/api/auth/registration")).json() == {"open": False, "first_account": False}
    await open_registration(client, admin)
    assert (await client.get("/api/auth/registration")).json() == {"open": True, "first_account": False}
