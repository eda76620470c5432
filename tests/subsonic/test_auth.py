"""Authentication of /rest/: app passwords (token, p, enc:), API keys, the codes clients act on, limits."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import asgi_client, make_settings, running_app
from tests.subsonic.conftest import NS, Library, make_account
from tests.support.api import DEFAULT_PASSWORD


def token(secret: str, salt: str = "c19b2d") -> dict[str, str]:
    return {"t": hashlib.md5((secret + salt).encode()).hexdigest(), "s": salt}


async def code_of(client: httpx.AsyncClient, endpoint: str = "ping", method: str = "GET", **params: str) -> int | None:
    """The error code of a JSON call (None when it succeeded)."""
    base = {"v": "1.16.1", "c": "tests", "f": "json"}
    if method == "POST":
        response = await client.post(f"/rest/{endpoint}", data={**base, **params})
    else:
        response = await client.get(f"/rest/{endpoint}", params={**base, **params})
    assert response.status_code == 200, response.text
    body = response.json()["subsonic-response"]
    assert body["openSubsonic"] is True
    if body["status"] == "ok":
        return None
    assert body["status"] == "failed"
    code: int = body["error"]["code"]
    return code


async def test_an_app_password_works_as_a_token_and_as_a_password(library: Library) -> None:
    client, alice = library.client, library.alice
    password = alice.app_password
    assert await code_of(client, u="alice", **token(password)) is None
    assert await code_of(client, u="ALICE", **token(password.replace("-", ""))) is None  # typed without dashes
    assert await code_of(client, u="alice", p=password) is None
    assert await code_of(client, u="alice", p="enc:" + password.encode().hex()) is None
    assert await code_of(client, u="alice", p="enc:" + password.encode().hex().upper()) is None
    assert await code_of(client, "ping.view", method="POST", u="alice", **token(password)) is None


async def test_wrong_credentials_and_login_passwords_are_refused_with_the_codes_clients_expect(
    library: Library,
) -> None:
    client, alice = library.client, library.alice
    assert await code_of(client, u="alice", **token("not-the-password")) == 40
    assert await code_of(client, u="nobody", **token(alice.app_password)) == 40
    assert await code_of(client, u="bob", **token(alice.app_password)) == 40  # another user's app password
    # A login password as a token cannot be told from a wrong one: 40, never 41 (DSub would switch to p= for good).
    assert await code_of(client, u="alice", **token(DEFAULT_PASSWORD)) == 40
    # As p= it can be recognised: 42 (use another mechanism), with where to create an app password.
    response = await client.get(
        "/rest/ping", params={"u": "alice", "p": DEFAULT_PASSWORD, "v": "1.16.1", "c": "tests", "f": "json"}
    )
    error = response.json()["subsonic-response"]["error"]
    assert error["code"] == 42
    assert "app password" in error["message"]
    assert error["helpUrl"] == "http://testserver/"
    assert await code_of(client, u="alice", p="enc:" + DEFAULT_PASSWORD.encode().hex()) == 42
    assert await code_of(client, u="alice", p="wrong password") == 40
    assert await code_of(client, u="alice", p="enc:zz") == 40


async def test_api_keys(library: Library) -> None:
    client, alice = library.client, library.alice
    assert await code_of(client, apiKey=alice.api_key) is None
    info = await client.get("/rest/tokenInfo", params={"apiKey": alice.api_key, "f": "json"})
    assert info.json()["subsonic-response"]["tokenInfo"] == {"username": "alice"}
    assert await code_of(client, apiKey=alice.api_key, u="alice") == 43  # u with apiKey: conflicting
    assert await code_of(client, apiKey="st_unknown") == 44
    assert await code_of(client, apiKey="") == 44
    keys = (await client.get("/api/me/api-keys", headers=alice.headers)).json()
    await client.delete(f"/api/me/api-keys/{keys[0]['id']}", headers=alice.headers)
    assert await code_of(client, apiKey=alice.api_key) == 44  # revoked


async def test_missing_and_conflicting_parameters(library: Library) -> None:
    client, alice = library.client, library.alice
    assert await code_of(client) == 10
    assert await code_of(client, u="alice") == 10
    assert await code_of(client, u="alice", t="abc") == 10
    assert await code_of(client, u="alice", p=alice.app_password, **token(alice.app_password)) == 43


async def test_a_revoked_app_password_and_a_disabled_account_are_refused(library: Library) -> None:
    client, alice, bob = library.client, library.alice, library.bob
    assert await code_of(client, u="bob", **token(bob.app_password)) is None
    bob_id = (await client.get("/api/auth/me", headers=bob.headers)).json()["id"]
    disabled = await client.patch(f"/api/admin/users/{bob_id}", json={"disabled": True}, headers=alice.headers)
    assert disabled.status_code == 200, disabled.text
    assert await code_of(client, u="bob", **token(bob.app_password)) == 50
    assert await code_of(client, apiKey=bob.api_key) == 50
    passwords = (await client.get("/api/me/app-passwords", headers=alice.headers)).json()
    await client.delete(f"/api/me/app-passwords/{passwords[0]['id']}", headers=alice.headers)
    assert await code_of(client, u="alice", **token(alice.app_password)) == 40


async def test_the_open_endpoint_and_the_unknown_ones(library: Library) -> None:
    client = library.client
    response = await client.get("/rest/getOpenSubsonicExtensions.view", params={"f": "json"})
    body = response.json()["subsonic-response"]
    assert body["status"] == "ok"
    names = {e["name"]: e["versions"] for e in body["openSubsonicExtensions"]}
    assert names["apiKeyAuthentication"] == [1]
    assert names["formPost"] == [1]
    assert await code_of(client, "getPodcasts", u="alice", **token(library.alice.app_password)) == 0
    unknown = await client.get("/rest/noSuchThing", params={"f": "json", **library.token_params()})
    assert unknown.json()["subsonic-response"]["error"]["code"] == 0
    assert (await client.get("/rest/ping")).status_code == 200  # errors are HTTP 200


async def test_errors_in_xml(library: Library) -> None:
    response = await library.client.get("/rest/ping.view", params={"u": "alice", **token("wrong")})
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == f"{NS}subsonic-response"
    assert root.attrib["status"] == "failed"
    assert root.attrib["openSubsonic"] == "true"
    assert root.attrib["type"] == "soundtime"
    error = root.find(f"{NS}error")
    assert error is not None
    assert error.attrib["code"] == "40"
    assert error.attrib["message"]


async def test_jsonp_callbacks_are_identifiers_only(library: Library) -> None:
    params = library.token_params()
    good = await library.client.get("/rest/ping", params={**params, "f": "jsonp", "callback": "jQuery.cb_1"})
    assert good.headers["content-type"] == "application/javascript; charset=utf-8"
    assert good.headers["x-content-type-options"] == "nosniff"
    assert good.text.startswith('/**/jQuery.cb_1({"subsonic-response":{"status":"ok"')
    assert good.text.endswith("});")
    for evil in ("alert(1)//", "a;b", "x</script>", "cb\n", "1abc", "a" * 300):
        refused = await library.client.get("/rest/ping", params={**params, "f": "jsonp", "callback": evil})
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["subsonic-response"]["error"]["code"] == 0
        assert evil not in refused.text
    missing = await library.client.get("/rest/ping", params={**params, "f": "jsonp"})
    assert missing.json()["subsonic-response"]["error"]["code"] == 10


@pytest.fixture
async def strict_app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path / "strict", database_url, AUTH_RATE_LIMIT_PER_MINUTE=4)
    async with running_app(settings) as application:
        yield application


async def test_failed_attempts_are_rate_limited_like_logins(strict_app: FastAPI) -> None:
    async with asgi_client(strict_app) as client:
        alice = await make_account(client, "alice")  # the sign-up is one attempt of this address's four
        for _ in range(5):  # successes count against nobody
            assert await code_of(client, u="alice", **token(alice.app_password)) is None
        for _ in range(3):
            assert await code_of(client, u="alice", **token("guess")) == 40
        response = await client.get(
            "/rest/ping", params={"u": "alice", **token(alice.app_password), "f": "json", "v": "1.16.1", "c": "x"}
        )
        error = response.json()["subsonic-response"]["error"]
        assert error["code"] == 0
        assert "too many" in error["message"]
        assert int(response.headers["retry-after"]) >= 1
        assert await code_of(client, apiKey=alice.api_key) == 0  # the address is held back for every mechanism
