"""Small helpers for talking to the API in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from soundtime.context import AppContext

DEFAULT_PASSWORD = "correct horse battery"


async def register(client: httpx.AsyncClient, username: str = "alice", password: str = DEFAULT_PASSWORD) -> str:
    """Register an account and return its access token."""
    response = await client.post("/api/auth/register", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


async def upload(client: httpx.AsyncClient, token: str, path: Path, *, name: str | None = None) -> httpx.Response:
    """POST one file to /api/upload."""
    with path.open("rb") as handle:
        files = {"file": (name or path.name, handle, "application/octet-stream")}
        return await client.post("/api/upload", files=files, headers=bearer(token))


async def open_registration(client: httpx.AsyncClient, admin_token: str) -> None:
    """Let anyone register (admin setting)."""
    response = await client.patch("/api/admin/settings", json={"registration_open": True}, headers=bearer(admin_token))
    assert response.status_code == 200, response.text


def error_code(response: httpx.Response) -> Any:
    """The machine-readable code of an error response."""
    return response.json()["error"]["code"]


def context_of(app: FastAPI) -> AppContext:
    """The running app's context (database, stores, limiters)."""
    context: AppContext = app.state.context
    return context
