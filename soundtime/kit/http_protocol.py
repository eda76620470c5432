"""uvicorn's h11 protocol with the limits a server facing strangers needs: slow and idle connections cannot pile up.

uvicorn bounds an idle keep-alive connection, but nothing else about the time a client may take: a connection
that never sends anything, or sends a request head one byte every few seconds, stays open for ever, and every
such connection counts against the concurrency limit until ``/healthz`` answers 503 to everyone. On top of
uvicorn's own protocol this adds:

- a deadline for the first byte of a request on a new connection, and one for a whole request head (408);
- a request head limit that holds however the head arrives (h11 checks its size only while it is incomplete,
  so a large head arriving in one read used to pass);
- at most ``per_address`` connections from one client address (an IPv6 /64 counts as one address), except from
  the trusted reverse proxies of ``FORWARDED_ALLOW_IPS``, through which every client arrives;
- when the server is full, a new connection closes the one that has waited longest for a request (idle, or
  slowly sending its head) instead of being refused: cheap connections cannot crowd out real clients.

The body of a request is bounded by :class:`soundtime.kit.slow_body.MinimumBodyRate` (an ASGI middleware:
only the application knows when it is waiting for the client rather than the other way round).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from soundtime.kit.errors import error_body

log = logging.getLogger(__name__)

_ANY = "*"


def _error_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """Headers of an error answered by the protocol itself: the app's JSON error shape, then the connection ends."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]


_TIMEOUT_BODY = json.dumps(error_body("request_timeout", "the request head took too long to arrive")).encode()
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in _error_headers(_TIMEOUT_BODY))
    + b"\r\n"
    + _TIMEOUT_BODY
)
_BAD_HEAD_BODY = json.dumps(
    error_body("bad_request", "malformed request head (bad syntax, or larger than the server accepts)")
).encode()


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How much a client connection may take of the server (defaults for a public server)."""

    #: Connections served at once; when full, the connection waiting longest for a request makes room.
    max_connections: int = 1000
    #: Connections from one client address (an IPv6 /64); trusted proxies are not counted.
    per_address: int = 64
    #: Largest request line + headers, in bytes (431-like: 400 and the connection closed).
    max_head: int = 16 * 1024
    #: Seconds a new connection may take to send the first byte of its request.
    first_byte_timeout: float = 10.0
    #: Seconds a request head may take from its first byte to its blank line.
    head_timeout: float = 20.0
    #: Seconds an idle keep-alive connection stays open between requests.
    keep_alive_timeout: float = 5.0
    #: ``FORWARDED_ALLOW_IPS``: addresses (or networks, or ``*``) of reverse proxies, exempt from ``per_address``.
    trusted_proxies: str = "127.0.0.1"


def address_key(host: str) -> str:
    """The unit one client is counted by: its IPv4 address, or its IPv6 /64 (one host usually owns a whole /64)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@functools.lru_cache(maxsize=8)
def _proxies(spec: str) -> tuple[bool, frozenset[str], tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]:
    """``FORWARDED_ALLOW_IPS`` parsed once: (everything trusted, exact hosts, networks)."""
    entries = [item.strip() for item in spec.split(",") if item.strip()]
    hosts, networks = set(), []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            hosts.add(entry)  # a literal such as a Unix socket path
            continue
        if network.num_addresses == 1:
            hosts.add(str(network.network_address))
        else:
            networks.append(network)
    return _ANY in entries, frozenset(hosts), tuple(networks)


def _trusted(host: str, spec: str) -> bool:
    """Whether ``host`` is one of the trusted reverse proxies (``FORWARDED_ALLOW_IPS`` syntax)."""
    everything, hosts, networks = _proxies(spec)
    if everything or host in hosts:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return str(address) in hosts or any(address in network for network in networks)


class _BoundedHeads(h11.Connection):
    """h11 that also refuses a request head over the limit when it arrived whole, in one read (h11 itself checks
    only heads still incomplete)."""

    def __init__(self, max_head: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head)
        self.max_head = max_head

    def next_event(self) -> Any:
        """The next event; RemoteProtocolError for a request head larger than ``max_head`` bytes."""
        waiting_for_head = self.their_state is h11.IDLE
        before = len(self.trailing_data[0]) if waiting_for_head else 0
        event = super().next_event()
        if waiting_for_head and isinstance(event, h11.Request):
            size = before - len(self.trailing_data[0])  # exactly the bytes of the request line and headers
            if size > self.max_head:
                raise h11.RemoteProtocolError(f"request head of {size} bytes", error_status_hint=431)
        return event


#: Connections per client address, per running server.
_per_address: weakref.WeakKeyDictionary[ServerState, Counter[str]] = weakref.WeakKeyDictionary()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for request heads, per-address caps and eviction when full."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, server_state, app_state, **kwargs)
        self.conn = _BoundedHeads(self.limits.max_head)
        self._counted: str | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        #: Since when this connection waits for a request (None while one is being served).
        self.waiting_since: float | None = self.loop.time()

    # --- connection life --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Admit the connection (or close it at once), make room if the server is full, start the first deadline."""
        super().connection_made(transport)
        host = self.client[0] if self.client else ""
        if not _trusted(host, self.limits.trusted_proxies):
            counts = _per_address.setdefault(self.server_state, Counter())
            key = address_key(host)
            if counts[key] >= self.limits.per_address:
                log.warning("refused a connection from %s: %d connections already", key, counts[key])
                transport.close()
                return
            counts[key] += 1
            self._counted = key
        if len(self.connections) > self.limits.max_connections:
            self._make_room()
        self._arm(self.limits.first_byte_timeout, self._waited_too_long)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection (its address count, its deadline)."""
        self._disarm()
        if self._counted is not None:
            counts = _per_address.get(self.server_state)
            if counts is not None:
                counts[self._counted] -= 1
                if counts[self._counted] <= 0:
                    del counts[self._counted]
            self._counted = None
        super().connection_lost(exc)

    def _make_room(self) -> None:
        """Close the connection that has waited longest for a request (idle or slowly sending its head)."""
        waiting = [
            other
            for other in self.connections
            if other is not self and isinstance(other, GuardedH11Protocol) and other.waiting_since is not None
        ]
        if waiting:
            oldest = min(waiting, key=lambda other: other.waiting_since or 0.0)
            log.info("server full: closing a connection that waited %.0f s for a request", oldest.idle_for())
            oldest.close_idle()

    def idle_for(self) -> float:
        """Seconds this connection has been waiting for a request."""
        return 0.0 if self.waiting_since is None else self.loop.time() - self.waiting_since

    def close_idle(self) -> None:
        """Close a connection that is between requests (without a response, as after a keep-alive timeout)."""
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    # --- requests ---------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Bytes of a request: the first ones of a head start the head deadline; a complete head stops it."""
        waiting_for_head = self.conn.their_state is h11.IDLE
        if waiting_for_head and self._head_bytes == 0:
            self._arm(self.limits.head_timeout, self._head_too_slow)
        if waiting_for_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a request head is complete (or the connection failed)
            self._disarm()
            self._head_bytes = 0
            self.waiting_since = None

    def on_response_complete(self) -> None:
        """A response went out: wait for the next request (uvicorn's keep-alive timeout applies)."""
        self.waiting_since = self.loop.time()
        self._head_bytes = 0
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        """Refuse a malformed or oversized head (and stop its deadline), in the JSON error shape the OpenAPI
        promises for 400 (uvicorn answers in plain text), then close the connection."""
        self._disarm()
        response = h11.Response(status_code=400, headers=_error_headers(_BAD_HEAD_BODY), reason=b"Bad Request")
        for event in (response, h11.Data(data=_BAD_HEAD_BODY), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    # --- deadlines --------------------------------------------------------------------------------------------

    def _arm(self, seconds: float, handler: Any) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _waited_too_long(self) -> None:
        """A new connection sent nothing in time: close it."""
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and self._head_bytes == 0 and self.cycle is None:
            self.close_idle()

    def _head_too_slow(self) -> None:
        """A request head did not complete in time: 408 and close."""
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.info("closed a connection whose request head took longer than %.0f s", self.limits.head_timeout)
        self.transport.write(_REQUEST_TIMEOUT)  # written directly: h11 has no request to answer yet
        self.transport.close()


def protocol_class(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """The protocol class uvicorn instantiates per connection, bound to ``limits``."""
    return type("BoundGuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
