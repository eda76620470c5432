"""Running the real command line: ``python -m soundtime serve`` in a working directory, as README's `make run`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The environment of a fresh shell: no soundtime settings, no DATABASE_URL."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["P2P_RELAY"] = "false"  # no internet here
    env["P2P_BIND_PORT"] = "0"  # another instance on this machine may hold the default port
    env["P2P_LOCAL_DISCOVERY"] = "false"  # do not announce test servers on the LAN
    return env


class Server:
    """`python -m soundtime serve` in ``workdir`` with ``settings`` added to a clean environment."""

    def __init__(self, workdir: Path, port: int | None = None, **settings: str) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self, *, within: float = 90) -> None:
        self.launch()
        self.wait_healthy(within=within)

    def launch(self) -> None:
        """Start the process (several servers can be launched, then waited for, to start them side by side)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**clean_env(), **self.settings, "SOUNDTIME_PORT": str(self.port)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "soundtime", "serve"], cwd=self.workdir, env=env, stdout=log, stderr=log
            )

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
