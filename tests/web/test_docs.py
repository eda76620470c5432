"""The API docs page works with no internet: Swagger UI's files come from this server, under a strict policy."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Request, expect

from tests.support.serve import Server
from tests.web.conftest import StartServer


@pytest.fixture(scope="module")
def server(serve: StartServer) -> Server:
    return serve()


async def test_the_docs_page_renders_from_local_files_only(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    elsewhere: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(server.url):
            elsewhere.append(request.url)

    tab.page.on("request", watch)
    await tab.page.goto(f"{server.url}/docs")
    await expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("soundtime")
    await expect(tab.page.get_by_text("/api/auth/login").first).to_be_visible()
    assert elsewhere == []
    await tab.check("docs", accessibility=False)  # Swagger UI's own markup is not ours to fix
