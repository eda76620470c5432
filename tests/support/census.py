"""pytest plugin: how many tests start a real iroh endpoint (a real node or a fake SoundTime peer) and how long the
run took. Not loaded by default; for the figures of the p2p redesign:

    .venv/bin/pytest -p tests.support.census tests/p2p -q           # CENSUS_OUT=file.json adds a per-file count

The last line is one JSON object: tests run, tests that bound at least one iroh endpoint, tests that bound none,
endpoints bound in all, wall seconds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

_bound: list[int] = [0]
_per_test: dict[str, int] = {}
_started: list[float] = [0.0]


def pytest_configure(config: pytest.Config) -> None:
    from soundtime.p2p.transport import IrohTransport

    original = IrohTransport.start.__func__  # type: ignore[attr-defined]

    async def counted(cls: type[IrohTransport], *args: Any, **kwargs: Any) -> IrohTransport:
        _bound[0] += 1
        transport: IrohTransport = await original(cls, *args, **kwargs)
        return transport

    IrohTransport.start = classmethod(counted)  # type: ignore[method-assign,assignment]
    _started[0] = time.perf_counter()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    before = _bound[0]
    yield
    _per_test[item.nodeid] = _bound[0] - before


def pytest_terminal_summary(terminalreporter: Any) -> None:
    real = sum(1 for bound in _per_test.values() if bound)
    figures = {
        "tests": len(_per_test),
        "start_real_node": real,
        "no_real_node": len(_per_test) - real,
        "endpoints_bound": sum(_per_test.values()),
        "wall_s": round(time.perf_counter() - _started[0], 1),
    }
    out = os.environ.get("CENSUS_OUT")
    if out:
        per_file: dict[str, list[int]] = {}
        for nodeid, bound in _per_test.items():
            per_file.setdefault(nodeid.split("::")[0], [0, 0])[0 if bound else 1] += 1
        with open(out, "w") as handle:
            json.dump(per_file, handle, indent=1, sort_keys=True)
    terminalreporter.write_line(json.dumps(figures))
