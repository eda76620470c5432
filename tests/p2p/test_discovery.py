"""Local discovery over real mDNS multicast (several zeroconf stacks in this process) and its input validation."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from soundtime.p2p import discovery
from soundtime.p2p.discovery import (
    MAX_ADDRESSES,
    MAX_ENDPOINTS,
    MAX_PEERS,
    Announcement,
    LocalDiscovery,
    parse_announcement,
)

pytestmark = pytest.mark.timeout(30)

WAIT = 30.0  # registration probes for ~1.6 s per service; generous for a loaded machine (8 s was not)


class Found:
    """An ``on_found`` that records calls (and raises for ``failing`` ids) and lets a test wait for them."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.failing = failing
        self.changed = Changes()

    async def __call__(self, node_id: str, endpoints: list[str]) -> None:
        self.calls.append((node_id, endpoints))
        self.changed.notify()
        if node_id in self.failing:
            raise RuntimeError("on_found failed")

    def ids(self) -> set[str]:
        return {node_id for node_id, _ in self.calls}

    def latest(self, node_id: str) -> list[str]:
        """The endpoints of the last report of ``node_id``."""
        return next((endpoints for i, endpoints in reversed(self.calls) if i == node_id), [])

    def endpoints_of(self, node_id: str) -> list[str]:
        return [e for i, endpoints in self.calls if i == node_id for e in endpoints]


class Changes:
    """Wake waiters whenever something changed; they re-check their condition (wrap in ``asyncio.timeout``)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self._event.clear()
            await self._event.wait()


@pytest.fixture
def service_type() -> str:
    """A service type of this test's own, so concurrent runs on the host cannot cross-talk."""
    return f"_st{secrets.token_hex(4)}._udp.local."


@pytest.fixture
def udp_ports() -> Iterator[Callable[[], tuple[socket.socket, int]]]:
    """Bind UDP sockets on free ports (standing in for QUIC endpoints); closed after the test."""
    sockets: list[socket.socket] = []

    def bind() -> tuple[socket.socket, int]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 0))
        sock.setblocking(False)
        sockets.append(sock)
        return sock, sock.getsockname()[1]

    yield bind
    for sock in sockets:
        sock.close()


@asynccontextmanager
async def running(*nodes: LocalDiscovery) -> AsyncIterator[None]:
    try:
        assert await asyncio.gather(*(node.start() for node in nodes)) == [True] * len(nodes)
        yield
    finally:
        await asyncio.gather(*(node.stop() for node in nodes))


@asynccontextmanager
async def published(service_type: str, infos: list[AsyncServiceInfo]) -> AsyncIterator[AsyncZeroconf]:
    """Announce raw services (anything zeroconf lets through) from a separate zeroconf stack."""
    aiozc = AsyncZeroconf(zc=Zeroconf(interfaces=InterfaceChoice.All, ip_version=IPVersion.All, use_asyncio=True))
    try:
        broadcasts = await asyncio.gather(*(aiozc.async_register_service(info) for info in infos))
        await asyncio.gather(*broadcasts)
        yield aiozc
    finally:
        await aiozc.async_close()


def raw_info(
    service_type: str, label: str, properties: dict[str, str], addresses: list[str], port: int
) -> AsyncServiceInfo:
    return AsyncServiceInfo(
        service_type,
        f"{label}.{service_type}",
        port=port,
        properties=properties,
        parsed_addresses=addresses,
        server=f"{label}.local.",
    )


async def assert_dialable(endpoint: str, receiver: socket.socket) -> None:
    """Send a datagram to ``endpoint`` and see it arrive on ``receiver``."""
    host, _, port = endpoint.rpartition(":")
    ip = ipaddress.ip_address(host.strip("[]"))
    assert int(port) == receiver.getsockname()[1]
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"hello", (str(ip), int(port)))
        async with asyncio.timeout(2):
            assert await loop.sock_recv(receiver, 16) == b"hello"


def ipv4(endpoints: list[str], port: int) -> str:
    return next(e for e in endpoints if not e.startswith("[") and e.endswith(f":{port}"))


async def test_two_instances_find_each_other_and_not_themselves(
    service_type: str, udp_ports: Callable[[], tuple[socket.socket, int]]
) -> None:
    (sock_a, port_a), (sock_b, port_b), (sock_c, port_c) = udp_ports(), udp_ports(), udp_ports()
    id_a, id_b = secrets.token_hex(32), secrets.token_hex(32)
    found_a, found_b = Found(), Found()
    a = LocalDiscovery(id_a, [port_a], found_a, service_type=service_type)
    b = LocalDiscovery(id_b, [port_b], found_b, service_type=service_type)
    seen_by_observer: set[str] = set()
    observed = Changes()

    def observe(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if name == a.instance_name:
            seen_by_observer.add(state_change.name)
            observed.notify()

    observer = AsyncZeroconf(zc=Zeroconf(interfaces=InterfaceChoice.All, use_asyncio=True))
    browser = AsyncServiceBrowser(observer.zeroconf, service_type, handlers=[observe])
    try:
        async with running(a, b), asyncio.timeout(WAIT):
            await found_a.changed.until(lambda: id_b in found_a.ids())
            await found_b.changed.until(lambda: id_a in found_b.ids())
            assert all(e.endswith(f":{port_b}") for e in found_a.endpoints_of(id_b))
            await assert_dialable(ipv4(found_a.endpoints_of(id_b), port_b), sock_b)
            await assert_dialable(ipv4(found_b.endpoints_of(id_a), port_a), sock_a)

            # New ports reach the peer at once (the endpoints changed, so no rate limit).
            await a.update_ports([port_a, port_c])
            await found_b.changed.until(lambda: any(e.endswith(f":{port_c}") for e in found_b.calls[-1][1]))
            await assert_dialable(ipv4(found_b.calls[-1][1], port_c), sock_c)

            # A third party saw a's service, and sees its goodbye when a stops.
            await observed.until(lambda: "Added" in seen_by_observer)
            await a.stop()
            await a.stop()  # idempotent
            assert not a.running
            await observed.until(lambda: "Removed" in seen_by_observer)
            assert b.running
    finally:
        await browser.async_cancel()
        await observer.async_close()
    assert found_a.ids() == {id_b}  # never itself
    assert found_b.ids() == {id_a}


async def test_hostile_announcements_are_ignored_or_sanitized(
    service_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    own_id = secrets.token_hex(32)
    upper_id, crowded_id, failing_id, control_id = (secrets.token_hex(32) for _ in range(4))
    lan = ["192.0.2.77"]
    infos = [
        raw_info(service_type, "short", {"id": "ab" * 31, "v": "1"}, lan, 4000),
        raw_info(service_type, "nonhex", {"id": "g" * 64, "v": "1"}, lan, 4000),
        raw_info(service_type, "spaced", {"id": f" {secrets.token_hex(32)}", "v": "1"}, lan, 4000),
        raw_info(service_type, "portzero", {"id": secrets.token_hex(32), "v": "1"}, lan, 0),
        raw_info(service_type, "noversion", {"id": secrets.token_hex(32)}, lan, 4000),
        raw_info(service_type, "v2", {"id": secrets.token_hex(32), "v": "2"}, lan, 4000),
        raw_info(service_type, "noid", {"v": "1"}, lan, 4000),
        raw_info(service_type, "impostor", {"id": own_id.upper(), "v": "1"}, lan, 4000),
        raw_info(service_type, "upper", {"id": upper_id.upper(), "v": "1", "ports": "x,70000,4001"}, lan, 4000),
        raw_info(service_type, "crowded", {"id": crowded_id, "v": "1"}, [f"10.9.0.{i}" for i in range(1, 21)], 4000),
        raw_info(service_type, "failing", {"id": failing_id, "v": "1"}, lan, 4000),
        raw_info(service_type, "control", {"id": control_id, "v": "1"}, ["224.0.0.1", "192.0.2.78"], 4000),
    ]
    found = Found(failing=frozenset({failing_id}))
    node = LocalDiscovery(own_id, [4100], found, service_type=service_type, addresses=["127.0.0.1"])
    expected = {upper_id, crowded_id, failing_id, control_id}
    with caplog.at_level(logging.ERROR, logger=discovery.__name__):
        async with running(node), published(service_type, infos):
            async with asyncio.timeout(WAIT):
                # The crowded node's addresses may arrive over several packets: it is reported again as they come.
                await found.changed.until(
                    lambda: expected <= found.ids() and len(found.latest(crowded_id)) == MAX_ADDRESSES
                )
            await asyncio.sleep(0.5)  # the invalid ones were announced alongside; give them time to (not) arrive
            assert node.running
    assert found.ids() == expected
    assert found.latest(upper_id) == ["192.0.2.77:4000", "192.0.2.77:4001"]
    reports = [endpoints for node_id, endpoints in found.calls if node_id == crowded_id]
    assert all(0 < len(endpoints) <= MAX_ADDRESSES for endpoints in reports)
    crowded = found.latest(crowded_id)
    announced = [f"10.9.0.{i}:4000" for i in range(1, 21)]
    assert sorted(crowded, key=announced.index) == crowded  # kept in address order, whatever order they came in
    assert set(crowded) <= set(announced)
    assert found.latest(control_id) == ["192.0.2.78:4000"]
    assert [r.getMessage() for r in caplog.records] == [f"local discovery: handling node {failing_id} failed"]


async def test_start_failure_is_a_warning_not_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_multicast(**kwargs: object) -> Zeroconf:
        raise OSError(19, "No such device")

    monkeypatch.setattr(discovery, "Zeroconf", no_multicast)
    node = LocalDiscovery("a" * 64, [4100], Found())
    with caplog.at_level(logging.WARNING, logger=discovery.__name__):
        assert await node.start() is False
    assert "local discovery (mDNS) is off" in caplog.text
    assert not node.running
    await node.stop()


async def test_stop_right_after_start_is_clean(service_type: str) -> None:
    node = LocalDiscovery(secrets.token_hex(32), [4100], Found(), service_type=service_type)
    assert await node.start()
    assert await node.start()  # already running
    await node.stop()  # while our name is still being probed
    assert not node.running
    await node.stop()


async def test_falls_back_to_ipv4_when_ipv6_is_unavailable(service_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    versions: list[IPVersion] = []

    def ipv4_only_host(*, ip_version: IPVersion, **kwargs: Any) -> Zeroconf:
        versions.append(ip_version)
        if ip_version is not IPVersion.V4Only:
            raise OSError(97, "Address family not supported by protocol")
        return Zeroconf(ip_version=ip_version, **kwargs)

    monkeypatch.setattr(discovery, "Zeroconf", ipv4_only_host)
    node = LocalDiscovery(secrets.token_hex(32), [4100], Found(), service_type=service_type)
    assert await node.start()
    await node.stop()
    assert versions == [IPVersion.All, IPVersion.V4Only]


async def test_no_usable_interface_means_no_discovery() -> None:
    node = LocalDiscovery("a" * 64, [4100], Found(), interfaces=[], ip_version=IPVersion.V4Only)
    assert await node.start() is False
    await node.stop()
    await node.stop()


VALID = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("properties", "addresses", "port", "expected"),
    [
        ({b"id": VALID.encode(), b"v": b"1"}, ["192.0.2.1"], 1, Announcement(VALID, ("192.0.2.1:1",))),
        ({b"id": VALID.upper().encode(), b"v": b"1"}, ["fd00::1"], 65535, Announcement(VALID, ("[fd00::1]:65535",))),
        ({b"id": VALID.encode(), b"v": b"1"}, ["::ffff:192.0.2.1"], 9, Announcement(VALID, ("192.0.2.1:9",))),
        (
            {b"id": VALID.encode(), b"v": b"1", b"ports": b"5,5,abc,0,99999,-1,6"},
            ["192.0.2.1"],
            5,
            Announcement(VALID, ("192.0.2.1:5", "192.0.2.1:6")),
        ),
        ({b"id": VALID.encode(), b"v": b"1"}, ["0.0.0.0", "::", "fe80::1", "255.255.255.255", "240.0.0.1"], 1, None),
        ({b"id": VALID.encode(), b"v": b"1"}, ["not an ip", "192.0.2.1\n"], 1, None),
        ({b"id": VALID.encode(), b"v": b"1"}, [], 1, None),
        ({b"id": VALID.encode(), b"v": b"1"}, ["192.0.2.1"], 0, None),
        ({b"id": VALID.encode(), b"v": b"1"}, ["192.0.2.1"], 65536, None),
        ({b"id": VALID.encode(), b"v": b"1"}, ["192.0.2.1"], None, None),
        ({b"id": VALID.encode(), b"v": None}, ["192.0.2.1"], 1, None),
        ({b"id": None, b"v": b"1"}, ["192.0.2.1"], 1, None),
        ({b"id": (VALID + "\n").encode(), b"v": b"1"}, ["192.0.2.1"], 1, None),
        ({b"id": VALID[:63].encode() + b"\xff", b"v": b"1"}, ["192.0.2.1"], 1, None),
        ({b"id": ("\u0661" * 64).encode(), b"v": b"1"}, ["192.0.2.1"], 1, None),
        ({b"id": VALID.encode() + b"00", b"v": b"1"}, ["192.0.2.1"], 1, None),
    ],
)
def test_parse_announcement(
    properties: dict[bytes, bytes | None], addresses: list[str], port: int | None, expected: Announcement | None
) -> None:
    assert parse_announcement(properties, addresses, port) == expected


def test_parse_announcement_caps_addresses_and_endpoints() -> None:
    properties = {b"id": VALID.encode(), b"v": b"1", b"ports": b"2,3,4,5,6,7"}
    addresses = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(10_000)]
    parsed = parse_announcement(properties, addresses, 1)
    assert parsed is not None
    assert len(parsed.endpoints) == MAX_ENDPOINTS
    assert {e.rpartition(":")[2] for e in parsed.endpoints} == {"1", "2", "3", "4"}
    assert len({e.rpartition(":")[0] for e in parsed.endpoints}) <= MAX_ADDRESSES


@pytest.mark.parametrize("bad", ["a" * 63, "g" * 64, "a" * 65, ""])
def test_own_node_id_and_ports_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="node_id"):
        LocalDiscovery(bad, [1], Found())
    with pytest.raises(ValueError, match="ports"):
        LocalDiscovery("a" * 64, [], Found())
    with pytest.raises(ValueError, match="ports"):
        LocalDiscovery("a" * 64, [0], Found())


async def test_reports_are_rate_limited_per_node() -> None:
    now = [1000.0]
    found = Found()
    node = LocalDiscovery("A" * 64, [1], found, clock=lambda: now[0])
    peer = Announcement("b" * 64, ("192.0.2.1:1",))
    report = node.report

    assert not await report(Announcement("a" * 64, ("192.0.2.1:1",)))  # ourselves (the id was lower-cased)
    assert await report(peer)
    assert not await report(peer)
    assert not await report(Announcement("b" * 64, ("192.0.2.1:1",)))
    assert await report(Announcement("b" * 64, ("192.0.2.2:1",)))  # the addresses changed
    now[0] += 59
    assert not await report(Announcement("b" * 64, ("192.0.2.2:1",)))
    now[0] += 1
    assert await report(Announcement("b" * 64, ("192.0.2.2:1",)))
    assert [c[0] for c in found.calls] == ["b" * 64] * 3


async def test_remembered_nodes_are_bounded() -> None:
    found = Found()
    node = LocalDiscovery("a" * 64, [1], found)
    first = Announcement(f"{0:064x}", ("192.0.2.1:1",))
    assert await node.report(first)
    for i in range(1, MAX_PEERS + 1):
        assert await node.report(Announcement(f"{i:064x}", ("192.0.2.1:1",)))
    assert await node.report(first)  # forgotten (least recently reported), so reported again
    assert len(found.calls) == MAX_PEERS + 2
