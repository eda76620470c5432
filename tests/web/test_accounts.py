"""Accounts in the browser: the first administrator, signing in and out, closed and open registration, and what
a listener may not see. One instance for the module; the tests run in order, as a newcomer would."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.api import DEFAULT_PASSWORD
from tests.support.serve import Server
from tests.web.conftest import StartServer, login


@pytest.fixture(scope="module")
def server(serve: StartServer) -> Server:
    return serve()


async def test_the_first_visitor_creates_the_administrator(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.open()
    await expect(page.get_by_role("heading", name="Welcome to soundtime")).to_be_visible()
    await expect(page.get_by_text("The account you create now is its administrator")).to_be_visible()
    await tab.check("welcome-first-run")

    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    await page.get_by_role("button", name="Create the administrator account").click()
    await expect(page.get_by_text("Your library is empty")).to_be_visible()
    await expect(page.get_by_role("link", name="Admin").first).to_be_visible()
    await tab.check("tracks-empty")

    # A reload resumes the session from the HttpOnly cookie; no token is anywhere a script could read it.
    await page.reload()
    await expect(page.get_by_text("Your library is empty")).to_be_visible()
    assert await page.evaluate("document.cookie") == ""
    assert await page.evaluate("localStorage.length + sessionStorage.length") == 0

    await page.get_by_role("link", name="Admin").first.click()
    await expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    await tab.check("admin")


async def test_sign_out_and_in_with_registration_closed(server: Server, new_tab: Any) -> None:
    tab = await new_tab(server.url)
    page = tab.page
    await tab.sign_in("admin")
    await page.get_by_role("button", name="Sign out").first.click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("Registration is closed")).to_be_visible()
    await tab.check("sign-in")

    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("wrong username or password")

    # Signed out means signed out: a reload does not bring the session back.
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_a_listener_sees_no_admin_page_and_the_admin_api_refuses_them(server: Server, new_tab: Any) -> None:
    admin = await login(server.url, "admin")
    async with httpx.AsyncClient(base_url=server.url, headers=admin) as http:
        opened = await http.patch("/api/admin/settings", json={"registration_open": True})
    assert opened.status_code == 200

    tab = await new_tab(server.url)
    page = tab.page
    await tab.open()
    await page.get_by_role("button", name="Create an account").click()
    await page.get_by_label("Username").fill("listener")
    await page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    await page.get_by_role("button", name="Create the account").click()
    await expect(page.get_by_role("complementary").get_by_text("Listener", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Tracks").first).to_be_visible()
    assert await page.get_by_role("link", name="Admin").count() == 0

    await tab.open("/admin")
    await expect(page).to_have_url(re.compile(r"#/$"))
    await expect(page.get_by_role("heading", name="Tracks")).to_be_visible()
    assert await page.get_by_role("heading", name="Administration").count() == 0

    listener = await login(server.url, "listener")
    async with httpx.AsyncClient(base_url=server.url, headers=listener) as http:
        for path in ("/api/admin/stats", "/api/admin/settings", "/api/admin/p2p/peers"):
            refused = await http.get(path)
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "forbidden"
