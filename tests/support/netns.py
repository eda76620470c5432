"""Instances on an emulated network: one network namespace each (``ip netns``), joined by the user-space wire of
:mod:`tests.support.netem_wire` (fixed delay each way, random loss), or loopback where namespaces are unavailable.

The kernel here has no ``sch_netem`` (``tc qdisc add … netem`` answers "Specified qdisc kind is unknown"), so the
delay and loss are applied by the wire process, which owns a TUN device in every namespace. The test process
reaches the instances' HTTP ports through a control device in its own namespace, which is never delayed.
Names are unique per run; :meth:`Network.close` (also on failure) stops the wire, which removes its devices, and
deletes the namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WIRE = Path(__file__).with_name("netem_wire.py")


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)


def namespaces_unavailable() -> str | None:
    """Why instances cannot get namespaces here (None: they can). ``NETEM_LOOPBACK=1`` asks for loopback."""
    if os.environ.get("NETEM_LOOPBACK") == "1":
        return "NETEM_LOOPBACK=1"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    probe = f"stprobe{secrets.token_hex(3)}"
    added = _ip("netns", "add", probe)
    if added.returncode != 0:
        return f"`ip netns add` failed (root or CAP_NET_ADMIN is needed): {added.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.200.0.0/13 that no route of this namespace overlaps."""
    routes = _ip("-4", "route", "show", "table", "all").stdout
    used = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word[:1].isdigit():
            try:
                used.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                continue
    for _ in range(100):
        candidate = ipaddress.ip_network(f"10.{200 + secrets.randbelow(8)}.{secrets.randbelow(256)}.0/24")
        if not any(candidate.overlaps(net) for net in used if net.prefixlen > 0):
            return candidate
    raise RuntimeError("no free 10.200.0.0/13 subnet for the emulated network")


@dataclass(frozen=True)
class Host:
    """Where one instance runs: the command prefix that puts it there and the address it listens on."""

    prefix: tuple[str, ...]
    ip: str


class Network:
    """``count`` hosts on one emulated network; ``kind`` is ``netns`` or ``loopback``."""

    def __init__(self, workdir: Path, count: int, *, delay_ms: float = 50.0, loss: float = 0.02, seed: int = 0) -> None:
        self.workdir = workdir
        self.count = count
        self.delay_ms = delay_ms
        self.loss = loss
        self.seed = seed
        self.kind = "loopback"
        self.hosts: list[Host] = []
        self.reason: str | None = None
        self._namespaces: list[str] = []
        self._wire: subprocess.Popen[str] | None = None
        self._stats = workdir / "wire-stats.json"

    def open(self, *, loopback: bool = False) -> Network:
        """Build the namespaces and start the wire; hosts on loopback (with the reason) where that cannot be, or
        when ``loopback`` asks for it (a baseline)."""
        self.reason = "a loopback baseline" if loopback else namespaces_unavailable()
        if self.reason is not None:
            self.hosts = [Host((), "127.0.0.1") for _ in range(self.count)]
            return self
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        self.kind = "netns"
        return self

    def _build(self) -> None:
        tag = secrets.token_hex(3)
        subnet = _free_subnet()
        addresses = [str(subnet.network_address + 1 + i) for i in range(self.count)]
        control_ip, control = str(subnet.network_address + 254), f"stctl{tag}"
        for i in range(self.count):
            name = f"st{tag}n{i}"
            added = _ip("netns", "add", name)
            if added.returncode != 0:
                raise RuntimeError(f"ip netns add {name}: {added.stderr.strip()}")
            self._namespaces.append(name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            str(WIRE),
            "--stats",
            str(self._stats),
            "--delay-ms",
            str(self.delay_ms),
            "--loss",
            str(self.loss),
            "--seed",
            str(self.seed),
            "--control",
            f"{control}={control_ip}",
            *(f"{name}={ip}" for name, ip in zip(self._namespaces, addresses, strict=True)),
        ]
        with (self.workdir / "wire.log").open("w") as log:
            self._wire = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self._wire.stdout is not None
        if self._wire.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the network emulator did not start: {(self.workdir / 'wire.log').read_text()}")
        steps = [("addr", "add", f"{control_ip}/{subnet.prefixlen}", "dev", control), ("link", "set", control, "up")]
        for name, ip in zip(self._namespaces, addresses, strict=True):
            steps += [
                ("-n", name, "link", "set", "lo", "up"),
                ("-n", name, "addr", "add", f"{ip}/{subnet.prefixlen}", "dev", "stnet0"),
                ("-n", name, "link", "set", "stnet0", "up"),
            ]
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                raise RuntimeError(f"ip {' '.join(step)}: {done.stderr.strip()}")
        self.hosts = [
            Host(("ip", "netns", "exec", name), ip) for name, ip in zip(self._namespaces, addresses, strict=True)
        ]

    def describe(self) -> str:
        """One line for the test's output: what the instances run on."""
        if self.kind == "netns":
            return (
                f"{self.count} network namespaces joined by a user-space wire: {self.delay_ms:g} ms each way "
                f"(RTT {2 * self.delay_ms:g} ms), {self.loss:.0%} loss (no sch_netem in this kernel)"
            )
        return f"LOOPBACK FALLBACK, no latency or loss: namespaces unavailable ({self.reason})"

    def stats(self) -> dict[str, float]:
        """The wire's counts so far (empty on loopback)."""
        if self.kind != "netns" or not self._stats.exists():
            return {}
        counts: dict[str, float] = json.loads(self._stats.read_text())
        return counts

    def close(self) -> None:
        """Stop the wire (its devices go with it) and delete the namespaces. Safe to call twice."""
        if self._wire is not None:
            if self._wire.stdout is not None:
                self._wire.stdout.close()
            self._wire.terminate()
            try:
                self._wire.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._wire.kill()
                self._wire.wait()
            self._wire = None
        for name in self._namespaces:
            _ip("netns", "del", name)
        self._namespaces = []
