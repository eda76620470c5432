"""Running the real command line: ``python -m soundtime serve`` in a working directory, as README's `make run`;
starting, killing and signing in to such servers, and polling their databases."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TEST_JWT_SECRET
from tests.support.api import DEFAULT_PASSWORD


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    """A UDP port free now: a restarted node binds the same one, as with a fixed P2P_BIND_PORT in production."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The environment of a fresh shell: no soundtime settings, no DATABASE_URL."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["P2P_RELAY"] = "false"  # no internet here
    env["P2P_BIND_PORT"] = "0"  # another instance on this machine may hold the default port
    env["P2P_LOCAL_DISCOVERY"] = "false"  # do not announce test servers on the LAN
    return env


class Server:
    """`python -m soundtime serve` in ``workdir`` with ``settings`` added to a clean environment.

    ``prefix`` runs the command through another one (``ip netns exec NAME``), listening on ``host``.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        prefix: Sequence[str] = (),
        host: str = "127.0.0.1",
        **settings: str,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self.prefix = list(prefix)
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self, *, within: float = 90) -> None:
        self.launch()
        self.wait_healthy(within=within)

    def launch(self) -> None:
        """Start the process (several servers can be launched, then waited for, to start them side by side)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**clean_env(), **self.settings, "SOUNDTIME_HOST": self.host, "SOUNDTIME_PORT": str(self.port)}
        command = [*self.prefix, sys.executable, "-m", "soundtime", "serve"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=log, stderr=log)

    def wait_healthy(self, *, within: float = 90) -> None:
        """Wait until /healthz answers 200 (fail with the server's log if it exits or takes too long)."""
        assert self.process is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with httpx.Client(timeout=1) as probe:
                    healthy = probe.get(f"{self.url}/healthz").status_code == 200
                if healthy:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server did not become healthy:\n{self.log.read_text()}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.log.read_text()

    def kill(self) -> None:
        """Stop it if it still runs (fixture teardown)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


#: ``P2P_TIMINGS`` for tests that wait for a dead peer to be noticed: a killed peer's connection is found dead in
#: 1-4 s instead of 5-10 s. Every other timing keeps its production default: with dials failing after 3 s instead
#: of 10 s, a push to a peer restarted on a new port gave up before the peer's own contact told the new address
#: (a landing train under load failed that way).
QUICK_FAILURES = "heartbeat_interval=1,heartbeat_timeout=3"


def start_server(home: Path, database: str, **settings: str) -> Server:
    """A started server in ``home`` on ``database`` (p2p off unless ``settings`` turn it on)."""
    [server] = start_servers(configured_server(home, database, **settings))
    return server


def start_servers(*servers: Server) -> tuple[Server, ...]:
    """Start ``servers`` side by side (their start-ups overlap) and wait until every one is healthy."""
    for server in servers:
        server.launch()
    for server in servers:
        server.wait_healthy()
    return servers


def configured_server(
    home: Path, database: str, *, prefix: Sequence[str] = (), host: str = "127.0.0.1", **settings: str
) -> Server:
    """A server in ``home`` on ``database`` with the tests' secret and generous limits, not started yet."""
    env = {
        "DATABASE_URL": database,
        "JWT_SECRET": TEST_JWT_SECRET,
        "LOG_LEVEL": "warning",
        "AUTH_RATE_LIMIT_PER_MINUTE": "1000",
        "P2P_ENABLED": "false",
        **settings,
    }
    return Server(home, None, prefix=prefix, host=host, **env)


def sigkill(server: Server) -> None:
    """Kill the server at once (as a power cut would)."""
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


def register(server: Server, username: str = "admin") -> str:
    """Register an account on the server; its access token."""
    answer = httpx.post(f"{server.url}/api/auth/register", json={"username": username, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["access_token"])


def login(server: Server, username: str = "admin") -> str:
    """Sign in to the server; the access token."""
    answer = httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 120.0) -> None:
    """Poll ``check`` until it is true; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.02)


async def scalar(url: str, sql: str) -> int:
    """The integer one query returns from the database at ``url``."""
    return int(await scalar_text(url, sql))


async def scalar_text(url: str, sql: str) -> str:
    """The one value a query returns from the database at ``url``, as text."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()
