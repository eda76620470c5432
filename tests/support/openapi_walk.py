"""Walking the application's own OpenAPI: every operation, with its path parameters filled in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI


def operations(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    """Every (METHOD, path template, operation object) the OpenAPI describes."""
    spec = app.openapi()
    for path, described in spec["paths"].items():
        for method, operation in described.items():
            yield method.upper(), path, operation


def fill_path(path: str, operation: Any, **chosen: str) -> str:
    """``path`` with each path parameter replaced by ``chosen[name]``, else by a random UUID."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = chosen.get(parameter["name"], str(uuid.uuid4()))
            path = path.replace("{" + parameter["name"] + "}", value)
    return path
