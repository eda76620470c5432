"""Serving the browser app and the API docs: caching, compression, file names, the security headers."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest

import soundtime
from soundtime.web import router as web_router
from soundtime.web.security import APP_POLICY, DEFAULT_POLICY, DOCS_POLICY


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small build of the app in place of the real one."""
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "docs").mkdir()
    (folder / "index.html").write_text('<!doctype html><script type="module" src="/assets/index-abc123.js"></script>')
    script = b"console.log('soundtime');" * 40
    (folder / "assets" / "index-abc123.js").write_bytes(script)
    (folder / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(script))
    (folder / "assets" / "index-abc123.css").write_text("body{}")
    (folder / "docs" / "init.js").write_text("SwaggerUIBundle({})")
    (tmp_path / "secret.txt").write_text("not served")
    monkeypatch.setattr(web_router, "DIST", folder)
    return folder


async def test_the_index_is_revalidated_and_carries_the_app_policy(client: httpx.AsyncClient, dist: Path) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.text == (dist / "index.html").read_text()
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == APP_POLICY
    assert "script-src 'self';" in APP_POLICY
    assert "unsafe-inline" not in APP_POLICY
    assert "frame-ancestors 'none'" in APP_POLICY
    head = await client.head("/")
    assert head.status_code == 200


async def test_hashed_assets_are_cached_for_a_year_and_sent_compressed(client: httpx.AsyncClient, dist: Path) -> None:
    plain = await client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.content == (dist / "assets" / "index-abc123.js").read_bytes()
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in plain.headers

    compressed = await client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["vary"] == "Accept-Encoding"
    assert compressed.content == plain.content  # httpx decodes it: the same bytes arrive

    css = await client.get("/assets/index-abc123.css", headers={"Accept-Encoding": "gzip"})
    assert (css.status_code, css.text, css.headers.get("content-encoding")) == (200, "body{}", None)


@pytest.mark.parametrize(
    "path",
    [
        "/assets/missing.js",
        "/assets/..%2Fsecret.txt",
        "/assets/.hidden",
        "/assets/%2E%2E",
        "/docs/..%2F..%2Fsecret.txt",
    ],
)
async def test_only_files_of_the_build_are_served(client: httpx.AsyncClient, dist: Path, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "not served" not in response.text


async def test_the_docs_page_loads_swagger_ui_from_this_server(client: httpx.AsyncClient, dist: Path) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DOCS_POLICY
    sources = ['src="/docs/swagger-ui-bundle.js"', 'src="/docs/init.js"', 'href="/docs/swagger-ui.css"']
    assert all(source in page.text for source in sources)
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN address anywhere
    assert "<script>" not in page.text  # nothing inline: the policy forbids it
    init = await client.get("/docs/init.js")
    assert (init.status_code, init.text, init.headers["cache-control"]) == (200, "SwaggerUIBundle({})", "no-cache")
    assert (await client.get("/redoc")).status_code == 404


async def test_without_a_build_the_root_explains_how_to_get_one(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_router, "DIST", tmp_path / "nothing")
    response = await client.get("/")
    assert response.status_code == 200
    assert f"soundtime {soundtime.__version__}" in response.text
    assert "make run" in response.text
    assert response.headers["content-security-policy"] == APP_POLICY


async def test_every_answer_has_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/healthz"), await client.get("/api/tracks"), await client.get("/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"] == DEFAULT_POLICY


def test_the_compressed_copies_in_the_build_are_the_files_themselves() -> None:
    """The server sends ``name.gz`` in place of ``name``: it must hold the final bytes of the build."""
    if not (web_router.DIST / "index.html").is_file():
        pytest.fail("the browser app is not built: run `make web` (make test does)")
    copies = sorted(web_router.DIST.rglob("*.gz"))
    assert copies, "the build has no compressed copies"
    for copy in copies:
        assert gzip.decompress(copy.read_bytes()) == copy.with_suffix("").read_bytes(), copy.name
