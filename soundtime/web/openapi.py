"""Write the API's OpenAPI description to a file (``python -m soundtime.web.openapi PATH``).

The browser app's TypeScript types are generated from it (``make check``), so the app's API client is checked
against the routes and models the server really has.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def describe() -> dict[str, Any]:
    """The OpenAPI document of the application (no database is opened to build it)."""
    from soundtime.app import create_app
    from soundtime.config import Settings

    app = create_app(Settings(_env_file=None), "postgresql+asyncpg://unused/unused")
    return app.openapi()


def main(argv: list[str]) -> int:
    """Write the description to ``argv[0]``, rewriting the file only when it changed."""
    if len(argv) != 1:
        print("usage: python -m soundtime.web.openapi OUTPUT.json", file=sys.stderr)
        return 2
    target = Path(argv[0])
    text = json.dumps(describe(), indent=1, sort_keys=True) + "\n"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
