"""Schemathesis against our own OpenAPI, over real HTTP, as an administrator (the role that reaches every route):
for every operation, uploads included, valid and invalid requests generated from the description never get a
server error, and every answer is one the description promises (status, content type, headers, body schema).

Bounded for the suite: a fixed number of examples per operation and generation mode, derandomised (the same
requests every run, so a red run reproduces), no shrinking (a failure is reported with its curl command). No
operation is left out; an operation without parameters or body has nothing to make invalid, so it is called in
the positive mode only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from soundtime.config import Settings
from tests.conftest import make_settings
from tests.support.api import bearer, register
from tests.support.audio import AudioFactory, TrackSpec

CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE


@dataclass
class Run:
    """How hard to try, and what every answer must satisfy."""

    examples: int
    modes: tuple[schemathesis.GenerationMode, ...]
    #: A 5xx is a failure, except a 503 whose error code is listed here (a documented answer of the setup).
    allowed_503: frozenset[str] = frozenset()
    calls: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)


@pytest.fixture(params=["federation on", "federation off"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """With the federation node running (relay and discovery off), and without it (P2P_ENABLED=false)."""
    return make_settings(tmp_path / "data", database_url, P2P_ENABLED=request.param == "federation on")


def _check(case: schemathesis.Case, response: requests.Response | schemathesis.Response, run: Run, auth: Any) -> None:
    status = response.status_code
    if status >= 500 and not (status == 503 and _error_code(response) in run.allowed_503):
        case.validate_response(response, checks=[not_a_server_error], headers=auth)
    case.validate_response(response, checks=CONFORMANCE, headers=auth)


def _error_code(response: requests.Response | schemathesis.Response) -> str | None:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


def _caller(
    name: str, base_url: str, session: requests.Session, auth: dict[str, str], run: Run
) -> Callable[[schemathesis.Case], None]:
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=auth, timeout=60)
        run.calls[name].append(response.status_code)
        _check(case, response, run, auth)

    return call


def _fuzz(spec: dict[str, Any], base_url: str, token: str, run: Run, uploads: dict[str, bytes]) -> None:
    """Every operation's generated examples in each mode, plus real audio for the upload routes; fills ``run``."""
    schema = schemathesis.openapi.from_dict(spec, config=schemathesis.Config())
    auth = bearer(token)
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            name = f"{operation.method.upper()} {operation.path}"

            call = _caller(name, base_url, session, auth, run)

            for mode in run.modes:
                probe = hypothesis.settings(
                    max_examples=run.examples,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )(hypothesis.given(case=operation.as_strategy(generation_mode=mode))(call))
                try:
                    probe()
                except Unsatisfiable:
                    if mode is not NEGATIVE:
                        raise
                    continue  # nothing in this operation can be made invalid
                except (Exception, BaseExceptionGroup) as error:  # one report per operation and mode; go on
                    run.failures.append(f"{name} ({mode.value}): {error}")
            if operation.path in uploads:  # real audio too: the 201/200 answers and their bodies
                field_name = "file" if operation.path == "/api/upload" else "files"
                data = uploads[operation.path]
                value: Any = data if field_name == "file" else [data]
                try:
                    call(operation.Case(body={field_name: value}, media_type="multipart/form-data"))
                except (Exception, BaseExceptionGroup) as error:
                    run.failures.append(f"{name} (real audio): {error}")


async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_openapi(
    app: FastAPI, live_server: str, settings: Settings, audio: AudioFactory, tmp_path: Path
) -> None:
    if settings.p2p_enabled:
        run = Run(examples=5, modes=(POSITIVE, NEGATIVE))
    else:  # the description of what a disabled federation answers (503 p2p_disabled); fewer examples
        run = Run(examples=2, modes=(POSITIVE,), allowed_503=frozenset({"p2p_disabled"}))
    uploads = {
        path: audio.make(tmp_path / f"upload{number}.flac", "flac", TrackSpec(title=f"Schema {number}")).read_bytes()
        for number, path in enumerate(("/api/upload", "/api/upload/batch"))
    }
    async with httpx.AsyncClient(base_url=live_server) as client:
        token = await register(client, "admin")  # the first account is the administrator
    spec = app.openapi()
    await asyncio.to_thread(_fuzz, spec, live_server, token, run, uploads)
    operations = {f"{method.upper()} {path}" for path, methods in spec["paths"].items() for method in methods}
    assert run.failures == [], "\n\n".join(run.failures)
    assert set(run.calls) == operations  # every operation was called
    assert 201 in run.calls["POST /api/upload"]  # the real audio was imported
