"""The network graph's frame time with 200 nodes, in headless Chromium against a real `soundtime serve`.

Run from the repository root (after `make web`):  .venv/bin/python bench/web_graph.py [--nodes N]

The server's database holds N - 1 peers (a fixed random network written by SQL: 60 % online, a third learned
from other peers, ~1.5 exchange links per peer), so the admin page draws N nodes (this instance and its peers;
P2P is off, so nothing changes the graph while it is measured). Headless Chromium (Debian's, driven by
Playwright) signs in as the administrator and opens #/admin/graph. Figures:

- ``first_layout_ms``: the synchronous first layout (300 simulation ticks, then fit), as the page measures it
  (User Timing ``soundtime:graph-first-layout``), and ``open_ms``: navigation to every node drawn;
- ``frame_ms`` while the layout animates ("lay out again": the simulation restarts from alpha 1), while a node is
  dragged around for 2 s (the simulation reheated by the drag), and at rest (the baseline, same page, same run):
  the gaps between animation frames (p50, p95, max) and the share of frames over 50 ms;
- ``animate_p95_vs_idle`` and ``drag_p95_vs_idle``: their p95 over the idle p95; ``load_average_1m`` and ``cpus``
  say how busy the machine was (frame times scale with it).

:func:`graph_figures` measures against a running server, for bench/web_bench.py to call; the last line printed by
this script is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402
import httpx  # noqa: E402
from playwright.async_api import Page, async_playwright  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from soundtime.kit import migrations  # noqa: E402
from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402
from tests.support.serve import Server  # noqa: E402

USERNAME, PASSWORD = "bench", "bench password 1"

#: Gaps between animation frames for ``ms`` milliseconds; with a ``scroll`` selector, that element's parent
#: scrolls down ``step`` pixels a frame meanwhile.
FRAME_GAPS = """async ({ ms, scroll = null, step = 0 }) => {
    const scroller = scroll ? document.querySelector(scroll).parentElement : null;
    const gaps = [];
    let last = performance.now();
    const end = last + ms;
    await new Promise((done) => {
        const frame = (now) => {
            gaps.push(now - last);
            last = now;
            if (scroller) scroller.scrollTop += step;
            if (now < end) requestAnimationFrame(frame); else done();
        };
        requestAnimationFrame(frame);
    });
    return gaps.slice(1);
}"""


def _summary(gaps: list[float]) -> dict[str, float]:
    return {
        "p50": round(benchlib.percentile(gaps, 0.5), 1),
        "p95": round(benchlib.percentile(gaps, 0.95), 1),
        "max": round(max(gaps), 1),
        "over_50ms_share": round(sum(g > 50 for g in gaps) / len(gaps), 3),
        "frames": len(gaps),
    }


async def populate_peers(url: str, peers: int, seed: int = 7) -> None:
    """Write ``peers`` peers and their exchange links (a fixed random network) into the database at ``url``."""
    rng = random.Random(seed)
    ids = [f"{rng.getrandbits(256):064x}" for _ in range(peers)]
    rows = [
        {
            "id": node_id,
            "name": f"peer {index:03d}" if index % 4 else None,
            "tracks": rng.randrange(0, 20_000),
            "online": rng.random() < 0.6,
            "source": "exchange" if index % 3 == 0 else "manual",
        }
        for index, node_id in enumerate(ids)
    ]
    links = {(a, b) for a in ids for b in rng.sample(ids, rng.choice((1, 2))) if a != b}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO peers (node_id, name, version, track_count, is_online, last_seen_at, source) "
                    "VALUES (:id, :name, '0.1.0', :tracks, :online, now(), :source)"
                ),
                rows,
            )
            await connection.execute(
                text("INSERT INTO peer_links (node_id, neighbour_id) VALUES (:a, :b)"),
                [{"a": a, "b": b} for a, b in sorted(links)],
            )
    finally:
        await engine.dispose()


async def _node_count(page: Page) -> int:
    return int(await page.evaluate("document.querySelectorAll('svg g.node').length"))


async def graph_figures(page: Page, base: str, nodes: int) -> dict[str, Any]:
    """Frame times of the graph page at ``base`` (``page`` signed in as an administrator; ``nodes`` expected)."""
    started = time.perf_counter()
    await page.goto(f"{base}/#/admin/graph")
    while await _node_count(page) < nodes:
        if time.perf_counter() - started > 60:
            raise RuntimeError(f"the graph drew {await _node_count(page)} of {nodes} nodes within 60 s")
        await asyncio.sleep(0.02)
    open_ms = (time.perf_counter() - started) * 1000
    layout = await page.evaluate(
        "performance.getEntriesByName('soundtime:graph-first-layout').map((e) => e.duration).pop() ?? null"
    )
    await page.wait_for_timeout(500)
    idle = await page.evaluate(FRAME_GAPS, {"ms": 2000})

    animating = asyncio.create_task(page.evaluate(FRAME_GAPS, {"ms": 3000}))
    await page.get_by_role("button", name="Unpin every node and lay the graph out again").click()
    animate = await animating

    await page.wait_for_timeout(4000)  # the layout settles
    box = await page.locator("svg g.node[data-kind=self] circle.body").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    dragging = asyncio.create_task(page.evaluate(FRAME_GAPS, {"ms": 2000}))
    await page.mouse.move(x, y)
    await page.mouse.down()
    for step in range(60):
        await page.mouse.move(x + 120 * (step % 20) / 20, y + 60 * ((step // 20) % 2), steps=1)
        await asyncio.sleep(0.03)
    await page.mouse.up()
    drag = await dragging

    idle_p95 = benchlib.percentile(idle, 0.95)
    return {
        "nodes": await _node_count(page),
        "open_ms": round(open_ms, 1),
        "first_layout_ms": round(layout, 1) if layout is not None else None,
        "frame_ms": {"idle": _summary(idle), "animate": _summary(animate), "drag": _summary(drag)},
        "animate_p95_vs_idle": round(benchlib.percentile(animate, 0.95) / idle_p95, 2),
        "drag_p95_vs_idle": round(benchlib.percentile(drag, 0.95) / idle_p95, 2),
        # The machine is shared: its load says how much of a core the browser had.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


async def _measure(base: str, nodes: int) -> dict[str, Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium is needed: apt install chromium")
    args = ["--disable-background-networking", "--disable-component-update"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{base}/")
            await page.get_by_label("Username").fill(USERNAME)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("navigation", name="Main").first.wait_for()
            return await graph_figures(page, base, nodes)
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200, help="nodes drawn: this instance and N - 1 peers")
    options = parser.parse_args()
    if not (ROOT / "soundtime" / "web" / "dist" / "index.html").is_file():
        raise SystemExit("the browser app is not built: run `make web` first")
    with tempfile.TemporaryDirectory(prefix="soundtime-web-graph-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # the embedded server may run as another user (root)
        cluster = EmbeddedPostgres(work / "pg", delete_on_stop=True)
        cluster.start()
        server = None
        try:
            cluster.create_database("graph")
            url = cluster.url("graph")
            migrations.upgrade(url)
            asyncio.run(populate_peers(url, options.nodes - 1))
            server = Server(work / "serve", DATABASE_URL=url, P2P_ENABLED="false", LOG_LEVEL="warning")
            server.start()
            registered = httpx.post(
                f"{server.url}/api/auth/register", json={"username": USERNAME, "password": PASSWORD}, timeout=30
            )
            registered.raise_for_status()
            figures = asyncio.run(_measure(server.url, options.nodes))
        finally:
            if server is not None:
                server.kill()
            cluster.stop()
    print(json.dumps({"graph": figures}))


if __name__ == "__main__":
    main()
