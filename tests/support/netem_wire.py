"""A user-space network emulator: one TUN device in each network namespace, joined by this process, which delays
every packet between two instances by a fixed time and drops a share of them (what ``tc qdisc … netem delay 50ms
loss 2%`` does on a link; this kernel has no ``sch_netem``). Traffic to and from the control device in the test's
own namespace (HTTP from the test) is forwarded at once and never dropped.

Run as root: ``python tests/support/netem_wire.py --stats FILE --delay-ms 50 --loss 0.02 --seed 1 \\
    --control NAME=IP NS=IP [NS=IP ...]``. Prints ``ready`` once every device exists (non-persistent: they vanish
when this process exits); the caller then gives them their addresses and brings them up. Counts are written to the
stats file as one JSON object about every second and on SIGTERM. Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import fcntl
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
DEVICE = "stnet0"  # the device's name inside each instance's namespace


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def open_tun(name: str, namespace: str | None) -> int:
    """A non-persistent TUN device called ``name`` in ``namespace`` (None: this process's own)."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        if namespace is not None:
            target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        return fd
    finally:
        _setns(home)
        os.close(home)


class Wire:
    """Forwards IPv4 packets between the devices by destination address, shaping instance-to-instance traffic."""

    def __init__(self, routes: dict[bytes, int], control: bytes, delay: float, loss: float, seed: int) -> None:
        self.routes = routes
        self.control = control
        self.delay = delay
        self.loss = loss
        self.rng = random.Random(seed)  # emulated loss, not cryptography
        self.queue: collections.deque[tuple[float, int, bytes]] = collections.deque()
        self.counts = {"forwarded": 0, "delayed": 0, "dropped_loss": 0, "dropped_unroutable": 0, "control": 0}

    def packet(self, data: bytes, now: float) -> None:
        if len(data) < 20 or data[0] >> 4 != 4:  # IPv6 and runts: the instances have IPv4 addresses only
            self.counts["dropped_unroutable"] += 1
            return
        source, destination = data[12:16], data[16:20]
        out = self.routes.get(destination)
        if out is None:
            self.counts["dropped_unroutable"] += 1
        elif self.control in (source, destination):
            self.counts["control"] += 1
            self.send(out, data)
        elif self.rng.random() < self.loss:
            self.counts["dropped_loss"] += 1
        else:
            self.counts["delayed"] += 1
            self.queue.append((now + self.delay, out, data))

    def due(self, now: float) -> float | None:
        """Send what is due; seconds until the next packet is (None: nothing queued)."""
        while self.queue and self.queue[0][0] <= now:
            _, out, data = self.queue.popleft()
            self.send(out, data)
        return max(0.0, self.queue[0][0] - now) if self.queue else None

    def send(self, out: int, data: bytes) -> None:
        try:
            os.write(out, data)
            self.counts["forwarded"] += 1
        except BlockingIOError:
            self.counts["dropped_unroutable"] += 1  # the device's queue is full: as a router would, drop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--loss", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--control", required=True, help="NAME=IP: the device in this namespace")
    parser.add_argument("instances", nargs="+", help="NAMESPACE=IP")
    args = parser.parse_args(argv)

    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    selector = selectors.DefaultSelector()
    routes: dict[bytes, int] = {}
    control_name, control_ip = args.control.split("=")
    for namespace, ip in [(None, control_ip), *(item.split("=") for item in args.instances)]:
        fd = open_tun(control_name if namespace is None else DEVICE, namespace)
        routes[socket.inet_aton(ip)] = fd
        selector.register(fd, selectors.EVENT_READ)
    wire = Wire(routes, socket.inet_aton(control_ip), args.delay_ms / 1000, args.loss, args.seed)
    print("ready", flush=True)

    def write_stats() -> None:
        part = args.stats.with_suffix(".part")
        part.write_text(json.dumps({**wire.counts, "delay_ms": args.delay_ms, "loss": args.loss}))
        part.replace(args.stats)

    written = time.monotonic()
    wait: float | None = None
    while not stopping:
        for key, _ in selector.select(timeout=min(wait, 1.0) if wait is not None else 1.0):
            fd = int(key.fd)
            now = time.monotonic()
            for _ in range(64):  # bounded per device per turn: no device starves the others
                try:
                    wire.packet(os.read(fd, 65536), now)
                except BlockingIOError:
                    break
        now = time.monotonic()
        wait = wire.due(now)
        if now - written >= 1.0:
            write_stats()
            written = now
    write_stats()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
