"""The admin pages that run one instance: the block list (add, lift, export to a file, import from one) and the
accounts (create, disable, enable, reset a password, registration open or closed). One instance for the module;
the tests run in order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.api import DEFAULT_PASSWORD
from tests.support.serve import Server
from tests.web.conftest import StartServer, login

NODE = "ab" * 32


@pytest.fixture(scope="module")
def server(serve: StartServer) -> Server:
    instance = serve()
    answer = httpx.post(
        f"{instance.url}/api/auth/register", json={"username": "admin", "password": DEFAULT_PASSWORD}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return instance


async def _page(new_tab: Any, server: Server, route: str) -> tuple[Any, Page]:
    tab = await new_tab(server.url)
    await tab.sign_in("admin")
    await tab.open(route)
    return tab, tab.page


async def _api(server: Server, method: str, path: str, *, admin: bool = True, **kwargs: Any) -> httpx.Response:
    """An API call, as the administrator unless ``admin`` is false."""
    headers = await login(server.url, "admin") if admin else {}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        return await http.request(method, path, **kwargs)


async def _sign_in(server: Server, username: str, password: str) -> httpx.Response:
    return await _api(server, "POST", "/api/auth/login", admin=False, json={"username": username, "password": password})


async def test_the_block_list_adds_lifts_exports_and_imports(server: Server, new_tab: Any, tmp_path: Path) -> None:
    tab, page = await _page(new_tab, server, "/admin/blocks")
    await expect(page.get_by_text("Nothing is blocked")).to_be_visible()

    domain, reason = page.get_by_label("Node id or domain"), page.get_by_label("Reason (optional)")
    block = page.get_by_role("button", name="Block", exact=True)
    await domain.fill("not a domain!")
    await block.click()
    await expect(page.get_by_role("alert")).to_contain_text("Not blocked: 'not a domain!' is neither a node id")
    await domain.fill("Spam.Example")
    await reason.fill("noise")
    await block.click()
    await expect(page.get_by_text("Blocked spam.example.")).to_be_visible()
    await domain.fill(NODE)
    await block.click()
    rows = page.get_by_role("row")
    await expect(rows).to_have_count(3)
    await expect(rows.filter(has_text="spam.example")).to_contain_text("noise")
    await expect(rows.filter(has_text=f"node {NODE[:8]}…{NODE[-4:]}")).to_be_visible()
    await tab.check("admin-blocks")

    async with page.expect_download() as started:
        await page.get_by_role("button", name="Export").click()
    download = await started.value
    assert re.fullmatch(r"soundtime-blocks-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
    exported = tmp_path / download.suggested_filename
    await download.save_as(exported)
    assert json.loads(exported.read_text()) == (await _api(server, "GET", "/api/admin/blocked-domains/export")).json()
    assert {e["domain"] for e in json.loads(exported.read_text())} == {"spam.example", NODE}

    await rows.filter(has_text="spam.example").get_by_role("button", name="Lift the block on spam.example").click()
    await expect(rows).to_have_count(2)
    remaining = (await _api(server, "GET", "/api/admin/blocked-domains")).json()
    assert [b["domain"] for b in remaining] == [NODE]

    importer = page.get_by_label("Import…")
    await importer.set_input_files(exported)
    await expect(page.get_by_role("status").filter(has_text="Imported")).to_have_text(
        f"Imported 1 entry from {exported.name}; 1 already blocked."
    )
    await expect(rows).to_have_count(3)
    restored = (await _api(server, "GET", "/api/admin/blocked-domains")).json()
    assert {(b["domain"], b["reason"]) for b in restored} == {("spam.example", "noise"), (NODE, None)}

    broken = tmp_path / "broken.json"
    broken.write_text("this is not json")
    await importer.set_input_files(broken)
    await expect(page.get_by_role("alert")).to_have_text(
        "broken.json: This file is not JSON: choose a block list exported from soundtime."
    )


async def test_accounts_are_created_disabled_enabled_and_reset(server: Server, new_tab: Any) -> None:
    tab, page = await _page(new_tab, server, "/admin/users")
    await page.get_by_label("Username").fill("mira")
    await page.get_by_label("Password", exact=True).fill("a good long password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("status").filter(has_text="Created")).to_have_text("Created mira (listener).")
    row = page.get_by_role("row").filter(has_text="mira")
    await expect(row.get_by_label("Role of mira")).to_have_value("user")
    assert (await login(server.url, "mira", "a good long password"))["Authorization"]

    await row.get_by_role("button", name="Disable mira").click()
    await page.get_by_role("dialog", name="Disable mira?").get_by_role("button", name="Disable").click()
    await expect(row).to_contain_text("disabled")
    refused = await _sign_in(server, "mira", "a good long password")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "account_disabled")

    # The last administrator stays one: the page says why and puts the role back.
    admin_row = page.get_by_role("row").filter(has_text="admin")
    await admin_row.get_by_label("Role of admin").select_option("user")
    await expect(page.get_by_role("alert")).to_contain_text("admin: ")
    await expect(admin_row.get_by_label("Role of admin")).to_have_value("admin")
    await tab.check("admin-users")

    await row.get_by_role("button", name="Enable mira").click()
    await expect(row).to_contain_text("active")
    await row.get_by_role("button", name="Reset password of mira").click()
    dialog = page.get_by_role("dialog", name="New password for mira")
    await dialog.get_by_label("New password").fill("another long password")
    await dialog.get_by_role("button", name="Set password").click()
    await expect(page.get_by_role("status").filter(has_text="New password")).to_have_text(
        "New password set for mira; their sessions ended."
    )
    assert (await _sign_in(server, "mira", "a good long password")).status_code == 401
    assert (await login(server.url, "mira", "another long password"))["Authorization"]


async def test_registration_is_opened_and_closed(server: Server, new_tab: Any) -> None:
    _, page = await _page(new_tab, server, "/admin/users")
    switch = page.get_by_label(re.compile("Anyone may create an account"))
    await expect(switch).not_to_be_checked()
    await switch.check()
    await expect(page.get_by_text("Registration open.")).to_be_visible()
    assert (await _api(server, "GET", "/api/auth/registration", admin=False)).json()["open"] is True
    await switch.uncheck()
    await expect(page.get_by_text("Registration closed.")).to_be_visible()
    assert (await _api(server, "GET", "/api/auth/registration", admin=False)).json()["open"] is False
