"""The library's pages and search check the caller's account in their own transaction without loading it: a change
made to the account in the database (by another process, e.g. the command line, which this server's cache of
revoked accounts learns about only later) is refused at the very next request."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.support.api import bearer, context_of, register

READS = [
    "/api/tracks",
    "/api/albums",
    "/api/artists",
    "/api/search?q=anything",
]

CHANGES = [
    ("UPDATE users SET disabled_at = now() WHERE username = 'alice'", "account_disabled"),
    ("UPDATE users SET token_generation = token_generation + 1 WHERE username = 'alice'", "token_revoked"),
    ("DELETE FROM users WHERE username = 'alice'", "invalid_token"),
]


@pytest.mark.parametrize(("change", "code"), CHANGES, ids=["disabled", "signed out", "deleted"])
async def test_a_changed_account_is_refused_at_the_next_read(
    app: FastAPI, client: httpx.AsyncClient, change: str, code: str
) -> None:
    token = await register(client)
    for path in READS:  # the account's state, and the server's cache of revoked accounts, are loaded
        assert (await client.get(path, headers=bearer(token))).status_code == 200, path
    async with context_of(app).db.transaction() as session:
        await session.execute(text(change))
    for path in READS:
        response = await client.get(path, headers=bearer(token))
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"] == code, path
