"""Find other soundtime instances on the local network over mDNS (``P2P_LOCAL_DISCOVERY``).

Each node publishes one ``_soundtime._udp.local.`` service: the instance name carries the first 16 hex characters
of its node id, the TXT record the full id (``id=<64 hex>``) and the protocol version (``v=1``), the SRV record the
QUIC port (extra ports, e.g. a separate IPv6 socket, in ``ports=p1,p2``) and A/AAAA records its addresses. Every
announcement heard is hostile input: it is validated, capped and rate limited before ``on_found`` sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from soundtime.kit.jobs import Jobs
from soundtime.p2p.ids import is_node_id
from soundtime.p2p.policy import Limits, Timings

log = logging.getLogger(__name__)

SERVICE_TYPE = "_soundtime._udp.local."
PROTOCOL_VERSION = b"1"
#: Addresses taken from one announcement (and published by us); the rest are dropped.
MAX_ADDRESSES = 8
#: Ports taken from one announcement (SRV port first, then the TXT ``ports`` list).
MAX_PORTS = 4
#: ``ip:port`` endpoints handed to ``on_found`` for one node.
MAX_ENDPOINTS = 16
#: Node ids remembered for rate limiting; the least recently reported are forgotten first.
MAX_PEERS = 256


OnFound = Callable[[str, list[str]], Awaitable[None]]
#: ``InterfaceChoice.All``/``Default`` or interface IPs (IPv6 interface indexes allowed), as zeroconf takes them.
Interfaces = InterfaceChoice | Sequence[str | int]


def normalize_node_id(value: str) -> str | None:
    """The node id lower-cased if it is exactly 64 hex characters, else None."""
    lowered = value.lower()
    return lowered if is_node_id(lowered) else None


def _valid_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _dialable(address: str, *, allow_loopback: bool = True) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``address`` as an IP a peer can dial, or None (unspecified, multicast, reserved, unscoped link-local v6)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast or (ip.is_loopback and not allow_loopback):
        return None
    if isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved:
        return None  # 240.0.0.0/4, including the broadcast address
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_link_local:
        return None  # needs a scope id, which does not survive the trip to another host
    return ip


def _endpoint(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str:
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


@dataclass(frozen=True, slots=True)
class Announcement:
    """A validated announcement: whose it is and where to dial it."""

    node_id: str
    endpoints: tuple[str, ...]


def parse_announcement(
    properties: Mapping[bytes, bytes | None], addresses: Sequence[str], port: int | None
) -> Announcement | None:
    """Validate what a service announced (TXT properties, A/AAAA addresses, SRV port); None if unusable.

    The id must be 64 hex characters (upper case is lowered), ``v`` must be 1 and the SRV port 1-65535. Invalid
    addresses and extra ports are skipped; at most :data:`MAX_ADDRESSES` (IPv4 first, in address order),
    :data:`MAX_PORTS` and :data:`MAX_ENDPOINTS` are kept.
    """
    if properties.get(b"v") != PROTOCOL_VERSION or port is None or not _valid_port(port):
        return None
    raw_id = properties.get(b"id")
    if raw_id is None:
        return None
    try:
        node_id = normalize_node_id(raw_id.decode("ascii"))
    except UnicodeDecodeError:
        return None
    if node_id is None:
        return None
    ports = [port]
    for item in (properties.get(b"ports") or b"").split(b",")[: MAX_PORTS * 2]:
        if item.isdigit() and len(item) <= 5 and _valid_port(int(item)) and int(item) not in ports:
            ports.append(int(item))
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for address in addresses[: MAX_ADDRESSES * 4]:
        ip = _dialable(address)
        if ip is not None and ip not in ips:
            ips.append(ip)
    # mDNS gives the addresses in no stable order: keep the same ones for the same set (v4 first, lowest first),
    # so that resolving a node again does not look like a change of its endpoints.
    ips.sort(key=lambda ip: (ip.version, ip))
    endpoints = tuple(_endpoint(ip, p) for ip in ips[:MAX_ADDRESSES] for p in ports[:MAX_PORTS])[:MAX_ENDPOINTS]
    return Announcement(node_id, endpoints) if endpoints else None


def local_addresses(interfaces: Interfaces = InterfaceChoice.All) -> list[str]:
    """Addresses to publish: the chosen interface IPs, else every dialable address of this host (v4 first)."""
    chosen = [] if isinstance(interfaces, InterfaceChoice) else [i for i in interfaces if isinstance(i, str)]
    found = [str(ip) for a in chosen if (ip := _dialable(a)) is not None]
    if not found:
        for adapter in ifaddr.get_adapters():
            for entry in adapter.ips:
                raw = entry.ip if isinstance(entry.ip, str) else entry.ip[0]
                ip = _dialable(raw, allow_loopback=False)
                if ip is not None and str(ip) not in found:
                    found.append(str(ip))
    found.sort(key=lambda a: ":" in a)
    return found[:MAX_ADDRESSES] or ["127.0.0.1"]


class LocalDiscovery:
    """Announce this node over mDNS and report other soundtime nodes on the LAN to ``on_found``.

    ``on_found(node_id, ["ip:port", "[v6]:port", ...])`` is awaited at most once per ``report_interval`` seconds
    per node unless its endpoints change; its exceptions are logged. Never reports ``node_id`` itself. At most
    ``max_pending`` announcements are resolved at once (more are dropped until some finish), each waiting at most
    ``resolve_timeout`` seconds for its records.
    """

    def __init__(
        self,
        node_id: str,
        ports: Sequence[int],
        on_found: OnFound,
        *,
        service_type: str = SERVICE_TYPE,
        interfaces: Interfaces = InterfaceChoice.All,
        ip_version: IPVersion | None = None,
        addresses: Sequence[str] | None = None,
        report_interval: float = Timings.lan_report_interval,
        resolve_timeout: float = Timings.lan_resolve_timeout,
        max_pending: int = Limits.max_lan_pending,
        clock: Callable[[], float] = time.monotonic,
        jobs: Jobs | None = None,
    ) -> None:
        normalized = normalize_node_id(node_id)
        if normalized is None:
            raise ValueError("node_id must be 64 hex characters")
        self.node_id = normalized
        self.service_type = service_type
        self.instance_name = f"soundtime-{normalized[:16]}.{service_type}"
        self._ports = self._check_ports(ports)
        self._on_found = on_found
        self._interfaces = interfaces
        self._ip_version = ip_version
        self._addresses = list(addresses) if addresses is not None else None
        self._report_interval = report_interval
        self._resolve_timeout_ms = round(resolve_timeout * 1000)  # zeroconf counts milliseconds
        self._max_pending = max_pending
        self._clock = clock
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._registered = False
        self._publish_lock = asyncio.Lock()
        self._parent_jobs = jobs
        self._jobs: Jobs | None = None
        self._pending: set[str] = set()
        #: Pending names that changed again while being resolved (resolved once more when done).
        self._changed: set[str] = set()
        self._reported: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._aiozc is not None

    @staticmethod
    def _check_ports(ports: Sequence[int]) -> list[int]:
        unique = list(dict.fromkeys(ports))
        if not unique or not all(_valid_port(p) for p in unique):
            raise ValueError("ports must be one or more integers in 1-65535")
        return unique[:MAX_PORTS]

    def _open(self) -> AsyncZeroconf:
        """Zeroconf on the chosen interfaces; dual stack falls back to IPv4 when IPv6 is unavailable."""
        version = self._ip_version
        if version is None:
            version = IPVersion.All if self._interfaces is InterfaceChoice.All else None
        try:
            return AsyncZeroconf(zc=Zeroconf(interfaces=self._interfaces, ip_version=version, use_asyncio=True))
        except OSError:
            if version is not IPVersion.All or self._ip_version is not None:
                raise
            log.info("mDNS over IPv6 is unavailable; local discovery uses IPv4 only", exc_info=True)
            return AsyncZeroconf(
                zc=Zeroconf(interfaces=self._interfaces, ip_version=IPVersion.V4Only, use_asyncio=True)
            )

    async def start(self) -> bool:
        """Open the mDNS sockets, start browsing and publishing; False (logged) if mDNS cannot work here."""
        if self._aiozc is not None:
            return True
        aiozc: AsyncZeroconf | None = None
        try:
            aiozc = self._open()
            await aiozc.zeroconf.async_wait_for_start()
            if not aiozc.zeroconf.engine.senders:
                raise OSError("no network interface accepted mDNS multicast")
            self._aiozc = aiozc
            self._browser = AsyncServiceBrowser(aiozc.zeroconf, self.service_type, handlers=[self._on_state_change])
        except Exception as exc:
            log.warning("local discovery (mDNS) is off: %s", str(exc) or type(exc).__name__)
            log.debug("mDNS start failure", exc_info=True)
            self._aiozc = self._browser = None
            if aiozc is not None:
                with contextlib.suppress(Exception):
                    await aiozc.async_close()
            return False
        self._jobs = self._parent_jobs.group("discovery") if self._parent_jobs is not None else Jobs("p2p discovery")
        self._spawn(self._publish())
        return True

    async def stop(self) -> None:
        """Withdraw our announcement and stop browsing; safe to call more than once."""
        aiozc, browser, jobs = self._aiozc, self._browser, self._jobs
        self._aiozc = self._browser = self._jobs = None
        if jobs is not None:
            await jobs.close()
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.async_cancel()
        if aiozc is not None:
            try:
                await aiozc.async_close()  # also sends the goodbye for our service
            except Exception:
                log.warning("closing mDNS failed", exc_info=True)
        self._registered = False
        self._info = None
        self._pending.clear()
        self._changed.clear()

    async def update_ports(self, ports: Sequence[int]) -> None:
        """Publish new QUIC ports (e.g. after the endpoint rebinds)."""
        self._ports = self._check_ports(ports)
        async with self._publish_lock:
            if self._aiozc is None or not self._registered or self._info is None:
                return  # _publish reads the new ports when it runs
            self._info = self._service_info(self._info.name)
            await (await self._aiozc.async_update_service(self._info))

    def _service_info(self, name: str) -> AsyncServiceInfo:
        properties = {"id": self.node_id, "v": PROTOCOL_VERSION.decode()}
        if len(self._ports) > 1:
            properties["ports"] = ",".join(str(p) for p in self._ports[1:])
        addresses = self._addresses if self._addresses is not None else local_addresses(self._interfaces)
        return AsyncServiceInfo(
            self.service_type,
            name,
            port=self._ports[0],
            properties=properties,
            parsed_addresses=addresses[:MAX_ADDRESSES],
            server=f"soundtime-{self.node_id[:16]}.local.",
        )

    async def _publish(self) -> None:
        aiozc = self._aiozc
        if aiozc is None:
            return
        try:
            async with self._publish_lock:
                self._info = self._service_info(self.instance_name)
                broadcast = await aiozc.async_register_service(self._info, allow_name_change=True)
                self._registered = True
            await broadcast
            log.info("announcing node %s on the LAN as %s", self.node_id, self._info.name)
        except Exception:
            log.warning("could not announce this node over mDNS; still browsing", exc_info=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._jobs is None:
            coroutine.close()
            return
        self._jobs.spawn(coroutine, "mDNS")

    def _on_state_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """Browser callback (runs on the event loop): queue resolving an added or updated service."""
        if state_change is ServiceStateChange.Removed or self._aiozc is None:
            return
        own = self._info.name if self._info is not None else self.instance_name
        if name.lower() == own.lower():
            return
        if name in self._pending:  # its addresses may still be arriving: look again once this resolve ends
            self._changed.add(name)
            return
        if len(self._pending) >= self._max_pending:
            log.debug("dropping mDNS announcement %r: too many pending", name)
            return
        self._pending.add(name)
        self._spawn(self._resolve(name))

    async def _resolve(self, name: str) -> None:
        try:
            announcement = await self._lookup(name)
            if announcement is not None:
                await self.report(announcement)
        finally:
            self._pending.discard(name)
            if name in self._changed:
                self._changed.discard(name)
                self._pending.add(name)
                self._spawn(self._resolve(name))

    async def _lookup(self, name: str) -> Announcement | None:
        aiozc = self._aiozc
        if aiozc is None:
            return None
        try:
            info = AsyncServiceInfo(self.service_type, name)
            if not await info.async_request(aiozc.zeroconf, self._resolve_timeout_ms):
                log.debug("mDNS service %r did not resolve", name)
                return None
            announcement = parse_announcement(info.properties, info.parsed_addresses(), info.port)
        except Exception:
            log.debug("could not resolve mDNS service %r", name, exc_info=True)
            return None
        if announcement is None:
            log.debug("ignoring invalid mDNS announcement %r", name)
        return announcement

    async def report(self, announcement: Announcement) -> bool:
        """Pass a validated announcement to ``on_found`` unless it is ours or rate limited; True if passed."""
        node_id, endpoints = announcement.node_id, announcement.endpoints
        if node_id == self.node_id:
            return False
        now = self._clock()
        previous = self._reported.get(node_id)
        if previous is not None and previous[1] == set(endpoints) and now - previous[0] < self._report_interval:
            return False
        self._reported[node_id] = (now, frozenset(endpoints))
        self._reported.move_to_end(node_id)
        while len(self._reported) > MAX_PEERS:
            self._reported.popitem(last=False)
        try:
            await self._on_found(node_id, list(endpoints))
        except Exception:
            log.exception("local discovery: handling node %s failed", node_id)
        return True
