"""The browser app's figures: its download size, and how fast the tracks page paints at 250,000 tracks.

Run from the repository root (after `make web`):  .venv/bin/python bench/web_bench.py [--tracks N] [--keep DIR]

- Size: the app's scripts and stylesheets as served (gzip -9, what the server sends to browsers that accept gzip),
  split into what the page loads at first (index.html's script and stylesheet) and the chunks loaded later (the
  admin pages, the account page). The API docs' files (/docs) are not part of the app. Target: JS + CSS <= 120 KB.
- Paint: a library of N tracks (default 250,000, written by SQL: bench/benchlib.py) behind a real
  `soundtime serve`, and the same app over a library of 1,000 tracks as the baseline in the same run. Headless
  Chromium (Debian's, driven by Playwright) signs in once; each round opens a new tab on /#/tracks: the page
  loads, resumes the session from its cookie, fetches the first page of tracks and renders it. The figure is
  the time from navigation start to the first track title painted, as Chromium's Element Timing records it
  (``elementtiming`` on the titles). Target: <= 500 ms on loopback.
- Scrolling: in the large library, the list is scrolled down for 3 seconds (pages load as it goes); reported
  are the rows loaded, the rows in the DOM (the virtualised list keeps only those in view) and the p95 time
  between animation frames while scrolling.
- Graph: the admin's network graph with 200 nodes (199 peers written by SQL into the large library's database,
  P2P off), measured by bench/web_graph.py's ``graph_figures``: first layout, and frame times while the layout
  animates and while a node is dragged, against the idle frame time of the same page.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import benchlib
from playwright.async_api import Browser, BrowserContext, async_playwright
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from web_graph import FRAME_GAPS, graph_figures, populate_peers

DIST = benchlib.ROOT / "soundtime" / "web" / "dist"
TARGET_KB = 120
TARGET_PAINT_MS = 500
BASELINE_TRACKS = 1_000
ROUNDS = 7
GRAPH_NODES = 200

#: Resolves with when the first track title was painted (ms after navigation start), by Element Timing.
_FIRST_PAINT = """() => new Promise((resolve) => {
    new PerformanceObserver((list, observer) => {
        const entry = list.getEntries().find((e) => e.identifier === 'track-title');
        if (entry) { observer.disconnect(); resolve(entry.renderTime || entry.loadTime); }
    }).observe({ type: 'element', buffered: true });
})"""

_TRACK_LIST = "[role=list][aria-label=Tracks]"

#: The track list's rows in the DOM, and how far the loaded rows reach.
_ROWS = """(selector) => {
    const list = document.querySelector(selector);
    return { rows: list.querySelectorAll('[role=listitem]').length,
             loaded: Number(list.querySelector('[role=listitem]:last-child')?.getAttribute('aria-posinset')) };
}"""


def bundle() -> dict[str, float]:
    """Gzipped sizes (KB) of the app's scripts and stylesheets: loaded at first, and in all."""
    index = DIST / "index.html"
    if not index.is_file():
        raise SystemExit("the browser app is not built: run `make web` first")
    initial = set(re.findall(r'(?:src|href)="/assets/([^"]+\.(?:js|css))"', index.read_text(encoding="utf-8")))
    files = [path for path in (DIST / "assets").iterdir() if path.suffix in {".js", ".css"}]
    sizes = {path.name: len(gzip.compress(path.read_bytes(), 9)) for path in files}

    def kb(names: list[str]) -> float:
        return round(sum(sizes[name] for name in names) / 1024, 1)

    js = [name for name in sizes if name.endswith(".js")]
    css = [name for name in sizes if name.endswith(".css")]
    return {
        "js_gzip_kb": kb(js),
        "css_gzip_kb": kb(css),
        "total_gzip_kb": kb(js + css),
        "initial_gzip_kb": kb([name for name in sizes if name in initial]),
        "target_kb": TARGET_KB,
    }


async def _signed_in(browser: Browser, base: str) -> BrowserContext:
    """A browser context holding a session cookie for ``base`` (the refresh cookie of the bench account)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(f"{base}/")
    await page.get_by_label("Username").fill("bench")
    await page.get_by_label("Password").fill(benchlib.BENCH_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("list", name="Tracks").wait_for()
    await page.close()
    return context


async def _first_rows(context: BrowserContext, base: str) -> float:
    """One round: a new tab on the tracks page; ms from navigation start to the first title painted."""
    page = await context.new_page()
    try:
        await page.goto(f"{base}/#/tracks")
        return float(await page.evaluate(_FIRST_PAINT))
    finally:
        await page.close()


async def _measure(browser: Browser, base: str, *, scroll: bool) -> dict[str, Any]:
    context = await _signed_in(browser, base)
    try:
        await _first_rows(context, base)  # warm: caches, JIT, the server's first queries
        times = [await _first_rows(context, base) for _ in range(ROUNDS)]
        figures: dict[str, Any] = {"first_rows_ms": benchlib.latency(times)}
        if scroll:
            page = await context.new_page()
            await page.goto(f"{base}/#/tracks")
            await page.get_by_role("list", name="Tracks").get_by_role("listitem").first.wait_for()
            gaps = await page.evaluate(FRAME_GAPS, {"ms": 3000, "scroll": _TRACK_LIST, "step": 400})
            result = await page.evaluate(_ROWS, _TRACK_LIST)
            figures["scroll"] = {
                "rows_loaded": result["loaded"],
                "rows_in_dom": result["rows"],
                "frame_gap_p95_ms": round(benchlib.percentile(gaps, 0.95), 1),
            }
            await page.close()
        return figures
    finally:
        await context.close()


async def _peer_count(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM peers"))).scalar_one())
    finally:
        await engine.dispose()


def _serve(cluster: Any, work: Path, name: str, tracks: int, *, peers: int = 0) -> benchlib.Server:
    url = benchlib.migrated_database(cluster, name)
    if asyncio.run(benchlib.library_size(url)) != tracks:
        shape = benchlib.LibraryShape(tracks=tracks, artists=max(tracks // 50, 10), albums=max(tracks * 2 // 25, 40))
        print(f"{name}: writing {tracks:,} tracks…", file=sys.stderr)
        asyncio.run(benchlib.populate_library(url, shape))
    known = asyncio.run(_peer_count(url))
    if peers and known < peers:
        asyncio.run(populate_peers(url, peers - known, seed=known))
    server = benchlib.Server(url, work / f"data-{name}", P2P_ENABLED="false")
    server.wait_ready()
    server.register("bench")  # the first account: the administrator (a kept database has it already)
    return server


async def _browse(large: benchlib.Server, small: benchlib.Server) -> dict[str, Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium is needed: apt install chromium")
    args = ["--disable-background-networking", "--disable-component-update"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            baseline = await _measure(browser, small.base, scroll=False)
            measured = await _measure(browser, large.base, scroll=True)
            context = await _signed_in(browser, large.base)
            try:
                graph = await graph_figures(await context.new_page(), large.base, GRAPH_NODES)
            finally:
                await context.close()
        finally:
            await browser.close()
    p50, base_p50 = measured["first_rows_ms"]["p50"], baseline["first_rows_ms"]["p50"]
    return {
        "first_rows_ms": measured["first_rows_ms"],
        f"baseline_{BASELINE_TRACKS}_tracks_first_rows_ms": baseline["first_rows_ms"],
        "first_rows_p50_vs_baseline": round(p50 / base_p50, 2) if base_p50 else None,
        "target_first_rows_ms": TARGET_PAINT_MS,
        "scroll": measured["scroll"],
        "graph": graph,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, help="keep the databases in this folder and reuse them next time")
    options = parser.parse_args()
    figures: dict[str, Any] = {"bundle": bundle(), "tracks": options.tracks}
    print(f"bundle: {figures['bundle']}", file=sys.stderr)
    with benchlib.private_cluster("soundtime-web-bench-", options.keep) as (cluster, work):
        large = _serve(cluster, work, "large", options.tracks, peers=GRAPH_NODES - 1)
        small = _serve(cluster, work, "small", BASELINE_TRACKS)
        try:
            figures |= asyncio.run(_browse(large, small))
        finally:
            large.stop()
            small.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
