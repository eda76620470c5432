"""Browser tests: Debian's Chromium driven by Playwright against live `soundtime serve` processes.

One browser for the session, servers per test module. Every page a test looks at is checked with axe-core
(no serious or critical violation) and photographed at desktop width and at 360 px (``tests/web/.screenshots``).
A Content-Security-Policy violation or an uncaught script error fails the test that caused it.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright, expect

from soundtime.kit import migrations
from soundtime.kit.embedded_pg import EmbeddedPostgres
from soundtime.web.router import DIST
from tests.conftest import TEST_JWT_SECRET
from tests.support.api import DEFAULT_PASSWORD
from tests.support.serve import Server

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).parent / ".screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
#: Closed network: no background connections (refused by the hundred otherwise); the player starts on its own.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--autoplay-policy=no-user-gesture-required",
]
_databases = itertools.count()
#: Resolves once the layout after a resize has been painted and the images it shows (lazy ones it brought into
#: view) have loaded or failed, within 2 s: what a fixed 150 ms wait used to approximate.
SETTLED = """() => new Promise((settled) => {
  const painted = () => new Promise((next) => requestAnimationFrame(() => requestAnimationFrame(next)));
  setTimeout(settled, 2000);
  painted().then(() => {
    const shown = Array.from(document.images).filter((image) => {
      const box = image.getBoundingClientRect();
      return !image.complete && box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth;
    });
    const loads = shown.map((image) => new Promise((loaded) => {
      image.addEventListener('load', loaded, { once: true });
      image.addEventListener('error', loaded, { once: true });
    }));
    return Promise.all([document.fonts.ready, ...loads]).then(painted);
  }).then(settled);
})"""
#: Machines running several suites at once are slow: waits are generous (they end as soon as the page is ready).
expect.set_options(timeout=15_000)


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the browser tests need Debian's Chromium: apt install chromium (make test installs it as root)")
    return path


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not (DIST / "index.html").is_file():
        pytest.fail("the browser app is not built: run `make web` (make test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


TEMPLATE = "soundtime_web_template"


@pytest.fixture(scope="session")
def web_template(pg_cluster: EmbeddedPostgres) -> EmbeddedPostgres:
    """A migrated database the servers' databases are copied from (`serve` then finds nothing to migrate)."""
    pg_cluster.create_database(TEMPLATE)
    migrations.upgrade(pg_cluster.url(TEMPLATE))
    return pg_cluster


class Servers:
    """Starts `soundtime serve` processes, each on a new database; all stop when the test module ends."""

    def __init__(self, cluster: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._cluster = cluster
        self._tmp = tmp_path_factory
        self.started: list[Server] = []

    def __call__(self, **settings: str) -> Server:
        [server] = self.many(1, **settings)
        return server

    def many(self, count: int, **settings: str) -> list[Server]:
        """``count`` servers with the same settings, started side by side."""
        servers = [self._server(settings) for _ in range(count)]
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_healthy()
        return servers

    def _server(self, settings: dict[str, str]) -> Server:
        database = f"soundtime_web_{next(_databases)}"
        self._cluster.copy_database(TEMPLATE, database)
        env = {
            "DATABASE_URL": self._cluster.url(database),
            "JWT_SECRET": TEST_JWT_SECRET,
            "P2P_ENABLED": "false",
            "AUTH_RATE_LIMIT_PER_MINUTE": "1000",
            "LOG_LEVEL": "warning",
            **settings,
        }
        server = Server(self._tmp.mktemp("serve"), **env)
        self.started.append(server)
        return server


StartServer = Servers


@pytest.fixture(scope="module")
def serve(web_template: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """``serve(**settings)`` or ``serve.many(n, **settings)``: live servers for the module."""
    servers = Servers(web_template, tmp_path_factory)
    yield servers
    for server in servers.started:
        server.kill()


class Tab:
    """A page of the app with what the test needs around it: sign-in, checks, screenshots."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

    async def open(self, route: str = "/") -> None:
        await self.page.goto(f"{self.base}/#{route}")

    async def sign_in(self, username: str, password: str = DEFAULT_PASSWORD) -> None:
        await self.open("/")
        await self.page.get_by_label("Username").fill(username)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.get_by_role("navigation", name="Main").first.wait_for()

    async def check(self, name: str, *, accessibility: bool = True) -> None:
        """A screenshot at both widths and, on our pages, axe-core at each (no serious or critical violation)."""
        SCREENSHOTS.mkdir(exist_ok=True)
        for label, viewport in (("desktop", DESKTOP), ("360", PHONE)):
            await self.page.set_viewport_size(viewport)
            await self.page.evaluate(SETTLED)
            await self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"))
            violations = await self._axe() if accessibility else []
            assert not violations, f"{name} at {label}: accessibility violations:\n" + "\n".join(violations)
        await self.page.set_viewport_size(DESKTOP)

    async def _axe(self) -> list[str]:
        # evaluate() runs outside the page's CSP, so axe needs no inline <script>.
        if not await self.page.evaluate("typeof axe !== 'undefined'"):
            await self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
        results: dict[str, Any] = await self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [
            f"- [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} nodes, e.g. {v['nodes'][0]['target']})"
            for v in results["violations"]
            if v["impact"] in {"serious", "critical"}
        ]


@pytest.fixture
async def new_tab(browser: Browser) -> AsyncIterator[Callable[[str], Any]]:
    """``await new_tab(server.url)``: a page in a fresh browser context (its own cookies), checked at the end."""
    contexts: list[BrowserContext] = []
    tabs: list[Tab] = []

    async def open_tab(base: str) -> Tab:
        if not AXE.is_file():
            pytest.fail("axe-core is missing: run `make test` (it installs web/node_modules)")
        context = await browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(30_000)
        contexts.append(context)
        tab = Tab(await context.new_page(), base)
        tabs.append(tab)
        return tab

    yield open_tab
    for context in contexts:
        await context.close()
    problems = [problem for tab in tabs for problem in tab.problems]
    assert not problems, "\n".join(problems)


async def audio_time(page: Page, *, beyond: float, within: float = 30.0) -> float:
    """Wait until the page's <audio> has played past ``beyond`` seconds; its position then.

    (Polled from here: ``wait_for_function`` evaluates strings in the page, which the app's policy forbids.)
    """
    deadline = asyncio.get_running_loop().time() + within
    position = 0.0
    while asyncio.get_running_loop().time() < deadline:
        position = float(await page.evaluate("() => document.querySelector('audio')?.currentTime ?? 0"))
        if position > beyond:
            return position
        await asyncio.sleep(0.1)
    raise AssertionError(f"the audio did not play past {beyond} s within {within} s (at {position} s)")


async def login(base: str, username: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    """The Authorization header of ``username`` on the server at ``base`` (for API calls beside the page)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
