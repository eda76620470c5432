"""The root page. The admin panel (built from ``web/`` into ``dist/``) replaces the start page once it exists."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

import soundtime

router = APIRouter(include_in_schema=False)
DIST = Path(__file__).parent / "dist"

_START_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>soundtime</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}}
code{{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}}</style></head>
<body><h1>soundtime {version}</h1>
<p>The server is running. The web player and admin panel are not part of this release yet; use the HTTP API:</p>
<ul><li><a href="/openapi.json">OpenAPI description</a> (interactive docs at <a href="/docs">/docs</a>
need internet access for their scripts)</li>
<li><a href="/healthz">health check</a></li></ul>
<p>Start with <code>POST /api/auth/register</code>: the first account becomes the administrator.</p>
</body></html>
"""


@router.get("/")
async def index() -> Response:
    """The panel's index page if it was built, otherwise a start page pointing at the API."""
    built = DIST / "index.html"
    if built.is_file():
        return FileResponse(built)
    return HTMLResponse(_START_PAGE.format(version=escape(soundtime.__version__)))
