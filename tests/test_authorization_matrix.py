"""Who may call what: every operation of the OpenAPI, called anonymously, as a user and as an administrator.

Each route is in one class — public, user or admin — and each caller gets what its class allows: anonymous
callers a 401 outside the public routes, users a 403 on admin routes, nobody a 401/403 where the class lets
them in (the answer is then the route's own: 200, 404 for an unknown id, 422 for an empty body...). Public routes
are listed by name below, admin routes are those under /api/admin/ and /metrics, every other route is for users:
a new route that is public without being listed here, or an admin route outside /api/admin/, fails this test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest
from fastapi import FastAPI

from soundtime.config import Settings
from tests.conftest import make_settings, running_app
from tests.support.api import bearer, open_registration, register
from tests.support.openapi_walk import fill_path, operations

Role = Literal["anonymous", "user", "admin"]
Class = Literal["public", "user", "admin"]

#: Routes anyone may call (signing in and up, the health check, and /rest/, which answers with its own
#: Subsonic authentication errors).
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/api/auth/registration"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("GET", "/rest/{endpoint}"),
    ("POST", "/rest/{endpoint}"),
}
#: A path parameter value that passes validation where a node id is expected.
NODE_ID = "a" * 64


def route_class(method: str, path: str) -> Class:
    if (method, path) in PUBLIC:
        return "public"
    if path.startswith("/api/admin/") or path == "/metrics":
        return "admin"
    return "user"


def allowed(role: Role, klass: Class) -> bool:
    return klass == "public" or (role != "anonymous" and (klass == "user" or role == "admin"))


@pytest.fixture
async def instance(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    with_p2p = make_settings(settings.data_dir, settings.database_url or "", P2P_ENABLED=True)
    async with running_app(with_p2p) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


async def test_every_route_answers_each_role_as_its_class_allows(instance: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = instance
    admin_token = await register(client, "admin")
    await open_registration(client, admin_token)
    headers: dict[Role, dict[str, str]] = {
        "anonymous": {},
        "user": bearer(await register(client, "listener")),
        "admin": bearer(admin_token),
    }
    seen_public: set[tuple[str, str]] = set()
    wrong: list[str] = []
    calls = 0
    for method, path, operation in operations(app):
        klass = route_class(method, path)
        if klass == "public":
            seen_public.add((method, path))
        url = fill_path(path, operation, node_id=NODE_ID)
        body: dict[str, object] = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
        for role in ("anonymous", "user", "admin"):
            response = await client.request(method, url, headers=headers[role], **body)  # type: ignore[arg-type]
            calls += 1
            status = response.status_code
            if allowed(role, klass):
                if status in {401, 403} or status >= 500:
                    wrong.append(f"{role} {method} {path} ({klass}) -> {status} {response.text[:100]}")
            else:
                expected = 401 if role == "anonymous" else 403
                code = response.json().get("error", {}).get("code") if status == expected else None
                if status != expected or not isinstance(code, str):
                    wrong.append(f"{role} {method} {path} ({klass}) -> {status}, expected {expected}")
    assert wrong == [], "\n".join(wrong)
    assert seen_public == PUBLIC  # the list names real routes
    assert calls >= 3 * 80  # the walk covered the API


async def test_a_disabled_account_is_let_in_nowhere(instance: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = instance
    admin_token = await register(client, "admin")
    await open_registration(client, admin_token)
    listener = bearer(await register(client, "listener"))
    users = (await client.get("/api/admin/users", headers=bearer(admin_token))).json()["items"]
    listener_id = next(u["id"] for u in users if u["username"] == "listener")
    disabled = await client.patch(
        f"/api/admin/users/{listener_id}", json={"disabled": True}, headers=bearer(admin_token)
    )
    assert disabled.status_code == 200, disabled.text
    for method, path, operation in operations(app):
        if route_class(method, path) == "public":
            continue
        body: dict[str, object] = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
        response = await client.request(method, fill_path(path, operation), headers=listener, **body)  # type: ignore[arg-type]
        assert response.status_code == 401, f"{method} {path} -> {response.status_code}"
