"""Serves the browser app built from ``web/`` into ``dist/`` (git-ignored) and the API docs page at ``/docs``.

The app uses hash routes (``/#/albums``), so the server needs no fallback route: ``/`` is the only page.
Hashed assets are cached for a year; the index and the docs' unhashed files are revalidated every time.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

import soundtime
from soundtime.kit.errors import NotFound
from soundtime.web.security import APP_POLICY, DOCS_POLICY

router = APIRouter(include_in_schema=False)
DIST = Path(__file__).parent / "dist"

#: Names of files we serve: no separators, no leading dot (vite's hashed names fit: index-D8zqz1Zq.js).
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>soundtime</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>soundtime {version}</h1>
<p>The server is running, but the browser app was not built. <code>make run</code> builds it (from
<code>web/</code>, with the Node.js that <code>make</code> installs); the HTTP API works without it:
<a href="/openapi.json">OpenAPI description</a>, <a href="/healthz">health check</a>.</p>
</body></html>
"""

_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>soundtime API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""


def _file(folder: Path, name: str, request: Request, cache: str) -> Response:
    """A file of ``folder``, gzip-encoded when a ``.gz`` sibling exists and the client accepts it."""
    path = folder / name
    if not _ASSET_NAME.match(name) or not path.is_file():
        raise NotFound("no such file", code="not_found")
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    media_type = _TYPES.get(path.suffix)
    compressed = path.with_name(name + ".gz")
    if "gzip" in request.headers.get("accept-encoding", "") and compressed.is_file():
        headers["Content-Encoding"] = "gzip"
        return FileResponse(compressed, headers=headers, media_type=media_type or "application/octet-stream")
    return FileResponse(path, headers=headers, media_type=media_type)


@router.api_route("/", methods=["GET", "HEAD"])
async def index() -> Response:
    """The app's page (revalidated on every load, so a new build is picked up at once)."""
    built = DIST / "index.html"
    headers = {"Cache-Control": REVALIDATE, "Content-Security-Policy": APP_POLICY}
    if built.is_file():
        return FileResponse(built, headers=headers, media_type="text/html; charset=utf-8")
    return HTMLResponse(_NOT_BUILT.format(version=escape(soundtime.__version__)), headers=headers)


@router.get("/assets/{name}")
async def asset(name: str, request: Request) -> Response:
    """A hashed file of the app (its name changes with its content: cached for a year)."""
    return _file(DIST / "assets", name, request, IMMUTABLE)


@router.get("/docs")
async def docs() -> Response:
    """Interactive API documentation (Swagger UI), with every file served from here: it works offline."""
    return HTMLResponse(_DOCS_PAGE, headers={"Cache-Control": REVALIDATE, "Content-Security-Policy": DOCS_POLICY})


@router.get("/docs/{name}")
async def docs_file(name: str, request: Request) -> Response:
    """Swagger UI's script and stylesheet, and the script that starts it."""
    return _file(DIST / "docs", name, request, REVALIDATE)
