"""The endpoint: binding, accepting and admitting connections, serving streams, the outgoing pool, heartbeats."""

# Timeouts are parameters on purpose (ASYNC109): a caller's asyncio.timeout would cancel a bare read (note #4);
# the stream methods enforce their deadline themselves and abort the stream when it passes.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from soundtime.kit.jobs import Jobs
from soundtime.p2p.transport._iroh import _message, ffi
from soundtime.p2p.transport.addresses import PeerAddress, _endpoint_addr, ticket_of
from soundtime.p2p.transport.base import AdmitHook, ConnectionLostHook, ConnectionTable, StreamHandler, run_handler
from soundtime.p2p.transport.errors import CloseCode, ConnectFailed, ConnectionClosed, StreamCode, TransportError
from soundtime.p2p.transport.streams import IrohConnection, IrohStream, _quietly, _remaining, _within

log = logging.getLogger("soundtime.p2p.transport")  # one logger name for the whole package

ALPN = b"soundtime/p2p/1"


class _BindPreset(ffi.Preset):
    """Minimal (no lookup) or n0 (relays, DNS) baseline, then one ``bind_addr`` per address family (note #8)."""

    def __init__(self, addresses: list[str], relay: bool) -> None:
        self._addresses = addresses
        self._relay = relay

    def apply(self, builder: ffi.EndpointBuilder) -> None:
        if self._relay:
            builder.apply_n0()
        else:
            builder.apply_minimal()
            builder.relay_mode(ffi.RelayMode.disabled())
        for address in self._addresses:
            builder.bind_addr(address)


def _ipv6_available(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


async def _bind(secret_key: bytes, port: int, relay: bool, host_v4: str | None, host_v6: str | None) -> ffi.Endpoint:
    addresses = [f"{host_v4}:{port}"] if host_v4 is not None else []
    if host_v6 is not None:
        addresses.append(f"[{host_v6}]:{port}")
    if not addresses:
        raise ValueError("at least one of bind_host_v4 and bind_host_v6 is needed")

    async def bind(selected: list[str]) -> ffi.Endpoint:
        options = ffi.EndpointOptions(preset=_BindPreset(selected, relay), secret_key=secret_key, alpns=[ALPN])
        return await ffi.Endpoint.bind(options)

    try:
        return await bind(addresses)
    except ffi.IrohError as exc:
        if host_v4 is not None and host_v6 is not None and not _ipv6_available(host_v6):
            log.warning("IPv6 is not available on this host; listening on IPv4 only")
            try:
                return await bind(addresses[:1])
            except ffi.IrohError as again:
                raise TransportError(f"cannot listen on {addresses[0]}: {_message(again)}") from None
        raise TransportError(f"cannot listen on {', '.join(addresses)}: {_message(exc)}") from None


def _close_late(connecting: asyncio.Future[ffi.Connection], code: CloseCode, reason: bytes) -> None:
    """Close the connection an abandoned dial completed anyway."""
    if connecting.cancelled() or connecting.exception() is not None:
        return
    try:
        connecting.result().close(int(code), reason)
    except ffi.IrohError as exc:
        log.debug("closing the connection of an abandoned dial failed: %s", _message(exc))


def _loopback(bound: str) -> str:
    host, _, port = bound.rpartition(":")
    if host == "0.0.0.0":  # noqa: S104 - a bound wildcard, not a bind request
        return f"127.0.0.1:{port}"
    if host == "[::]":
        return f"[::1]:{port}"
    return bound


@dataclass(frozen=True)
class _Settings:
    on_stream: StreamHandler
    admit: AdmitHook
    max_connections: int
    max_incoming_per_peer: int
    max_streams: int
    heartbeat_frame: Callable[[], bytes] | None
    heartbeat_interval: float
    heartbeat_timeout: float
    on_connection_lost: ConnectionLostHook | None
    idle_timeout: float
    handshake_timeout: float
    finish_timeout: float
    probe_timeout: float


class IrohTransport(ConnectionTable[IrohConnection]):
    """One iroh endpoint: serves streams on connections peers open, pools our outgoing connections."""

    def __init__(self, endpoint: ffi.Endpoint, settings: _Settings, jobs: Jobs) -> None:
        self._ep = endpoint
        self._settings = settings
        self.node_id = str(endpoint.id())
        super().__init__()
        self._dials: dict[str, asyncio.Task[IrohConnection]] = {}
        #: How the connection of a dial that ``close_peer`` abandoned is closed if it completes all the same.
        self._abandoned: dict[str, tuple[CloseCode, bytes]] = {}
        self._moved: set[str] = set()  # nodes that connected from a new address while older connections were open
        self._handshakes = 0
        self._jobs = jobs
        self._closed = asyncio.Event()

    @classmethod
    async def start(
        cls,
        *,
        secret_key: bytes,
        port: int,
        relay: bool,
        on_stream: StreamHandler,
        admit: AdmitHook,
        max_connections: int = 256,
        max_incoming_per_peer: int = 4,
        max_streams_per_connection: int = 64,
        bind_host_v4: str | None = "0.0.0.0",  # noqa: S104 - listening on all interfaces is the point
        bind_host_v6: str | None = "::",
        heartbeat_frame: Callable[[], bytes] | None = None,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 5.0,
        on_connection_lost: ConnectionLostHook | None = None,
        idle_timeout: float = 120.0,
        handshake_timeout: float = 10.0,
        finish_timeout: float = 30.0,
        probe_timeout: float = 1.0,
        jobs: Jobs | None = None,
    ) -> IrohTransport:
        """Bind the endpoint on ``port`` (0: random) for both address families and start accepting.

        ``bind_host_v6=None`` leaves IPv6 unpinned (iroh then binds ``[::]`` on a random port itself; neither
        family can be turned off). One node id holds at most ``max_incoming_per_peer`` incoming connections: a new
        one closes its oldest. ``heartbeat_frame`` returns the complete bytes to send (length prefix
        included); ``on_connection_lost`` is called when a pooled outgoing connection ends without us choosing to
        close it (not for idle closes, ``close_peer`` or shutdown; a missed heartbeat counts as lost). When a node
        we hold a pooled connection to connects to us again, that connection must acknowledge a heartbeat within
        ``probe_timeout`` seconds (or four round trips, when longer; at most ``heartbeat_timeout``), else it is
        taken for a connection to the node's previous process and replaced. The transport's tasks run in a group
        of ``jobs`` (a supervisor of its own when None).
        """
        if len(secret_key) != 32:
            raise ValueError("the secret key must be 32 bytes")
        settings = _Settings(
            on_stream=on_stream,
            admit=admit,
            max_connections=max_connections,
            max_incoming_per_peer=max_incoming_per_peer,
            max_streams=max_streams_per_connection,
            heartbeat_frame=heartbeat_frame,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            on_connection_lost=on_connection_lost,
            idle_timeout=idle_timeout,
            handshake_timeout=handshake_timeout,
            finish_timeout=finish_timeout,
            probe_timeout=probe_timeout,
        )
        ffi.uniffi_set_event_loop(cast(asyncio.BaseEventLoop, asyncio.get_running_loop()))  # note #1
        endpoint = await _bind(secret_key, port, relay, bind_host_v4, bind_host_v6)
        group = jobs.group("transport", expected=()) if jobs is not None else Jobs("p2p transport")
        transport = cls(endpoint, settings, group)
        transport._spawn(transport._accept_loop())
        log.debug("p2p endpoint %s bound on %s", transport.node_id[:16], transport._ep.bound_sockets())
        return transport

    # --- identity and addresses

    def address(self) -> PeerAddress:
        """Our dialable address: the endpoint's direct addresses (loopback ones if it has none) and relay."""
        addr = self._ep.addr()
        direct = tuple(addr.direct_addresses()) or self.local_address().direct_addresses
        return PeerAddress(self.node_id, direct, addr.relay_url())

    def local_address(self) -> PeerAddress:
        """Our address for nodes on the same host: loopback ``ip:port`` for each bound socket."""
        return PeerAddress(self.node_id, tuple(_loopback(bound) for bound in self._ep.bound_sockets()))

    def ticket(self) -> str:
        """An iroh endpoint ticket carrying :meth:`address`."""
        return ticket_of(self.address())

    def relay_url(self) -> str | None:
        """Our home relay, when relays are enabled and one was found."""
        return self._ep.addr().relay_url()

    def bound_ports(self) -> list[int]:
        """The UDP ports we listen on (IPv4 first)."""
        return list(dict.fromkeys(int(bound.rpartition(":")[2]) for bound in self._ep.bound_sockets()))

    # --- connections

    async def connect(self, addr: PeerAddress, timeout: float = 10.0) -> IrohConnection:
        """Our open outgoing connection to ``addr.node_id``, dialling it if there is none (one dial at a time)."""
        if self._closing:
            raise ConnectFailed("the transport is closed")
        node_id = addr.node_id
        if node_id == self.node_id:
            raise ConnectFailed("cannot connect to ourselves")
        pooled = self._outgoing.get(node_id)
        if pooled is not None and pooled.probe is not None and not pooled.probe.done():
            await asyncio.wait((pooled.probe,))  # the node connected to us again: is this connection still alive?
            pooled = self._outgoing.get(node_id)
        if pooled is not None and not pooled.is_closed:
            return pooled
        dial = self._dials.get(node_id)
        if dial is None:
            dial = self._start_dial(addr, timeout)
        try:
            return await asyncio.shield(dial)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if dial.cancelled() and (current is None or not current.cancelling()):
                if self._closing:
                    raise ConnectFailed("the transport closed while dialling") from None
                raise ConnectFailed(f"the dial to {node_id[:16]} was abandoned: its connections were closed") from None
            raise

    def close_peer(self, node_id: str, code: CloseCode = CloseCode.BLOCKED, reason: bytes = b"blocked") -> int:
        """Close every connection with ``node_id`` and abandon a dial to it under way; returns how many were closed.

        The callers waiting for the abandoned dial get :class:`ConnectFailed`; a connection it completes all the
        same is closed with ``code`` and ``reason`` before anyone sees it.
        """
        dial = self._dials.get(node_id)
        if dial is not None and not dial.done():
            self._abandoned[node_id] = (code, reason)
            dial.cancel()
        return super().close_peer(node_id, code, reason)

    async def close(self) -> None:
        """Close every connection (CloseCode.SHUTDOWN), stop every task and close the endpoint. Idempotent."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            for conn in self.connections():
                conn.close(CloseCode.SHUTDOWN, b"shutdown")
            await self._jobs.close()
            try:
                await _within(self._ep.close(), 5.0)
            except (TimeoutError, ffi.IrohError) as exc:
                log.warning("closing the p2p endpoint failed: %s", _message(exc))
        finally:
            self._closed.set()

    # --- internals: tasks

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> bool:
        """Run ``coro`` as a transport task; False (and it never runs) once the transport is closing."""
        if self._closing:
            coro.close()
            return False
        self._jobs.spawn(coro, "p2p transport task")
        return True

    # --- internals: outgoing

    def _start_dial(self, addr: PeerAddress, timeout: float) -> asyncio.Task[IrohConnection]:
        # The caller that awaits the dial gets its failure; nobody else needs it logged.
        task = self._jobs.spawn(self._dial(addr, timeout), f"dial {addr.node_id[:16]}", log_failure=False)
        self._dials[addr.node_id] = task

        def done(finished: asyncio.Task[IrohConnection]) -> None:
            if self._dials.get(addr.node_id) is finished:
                del self._dials[addr.node_id]
                self._abandoned.pop(addr.node_id, None)

        task.add_done_callback(done)
        return task

    async def _dial(self, addr: PeerAddress, timeout: float) -> IrohConnection:
        """Dial ``addr`` and the addresses the node's open connections come from (a restarted peer's new port).

        While any connection with a node is open, iroh keeps sending to the path it selected for the node: after
        the peer restarts on another address (a new UDP port) and connects to us again from there, dials can go
        to the dead address. When a dial fails after the node was seen to move, every connection with it is
        closed (which resets that state) and it is dialled once more; the first try then gets a quarter of the
        time.
        """
        seen = [a for conn in self.connections(addr.node_id) for a in conn.remote_addresses()]
        addr = PeerAddress(addr.node_id, tuple(dict.fromkeys((*seen, *addr.direct_addresses))), addr.relay_url)
        moved = addr.node_id in self._moved
        try:
            conn = await self._connect(addr, timeout / 4 if moved else timeout)
        except ConnectFailed as exc:
            if not moved or self._closing:
                raise
            self._moved.discard(addr.node_id)
            # ConnectionTable's close_peer: ours would abandon this very dial
            closed = ConnectionTable.close_peer(self, addr.node_id, CloseCode.NORMAL, b"reconnecting")
            log.info("%s after it moved; closed its %d connection(s), dialling it again", exc, closed)
            conn = await self._connect(addr, timeout)
        peer = IrohConnection(conn, addr.node_id, outgoing=True, spawn=self._spawn)
        if self._closing:
            peer.close(CloseCode.SHUTDOWN, b"shutdown")
            raise ConnectFailed("the transport closed while dialling")
        self._outgoing[addr.node_id] = peer
        self._spawn(self._watch(peer))
        self._spawn(self._refuse_streams(peer))
        self._spawn(self._keep_alive(peer))
        return peer

    async def _connect(self, addr: PeerAddress, timeout: float) -> ffi.Connection:
        short = addr.node_id[:16]
        try:
            target = _endpoint_addr(addr)
        except ffi.IrohError:
            raise ConnectFailed(f"{addr.node_id!r} is not a valid node id") from None
        connecting = asyncio.ensure_future(self._ep.connect(target, ALPN))
        try:
            return await _within(connecting, timeout)  # safe to cancel (note #4)
        except asyncio.CancelledError:  # abandoned by close_peer or shutdown: a connection made anyway is closed
            code, reason = self._abandoned.get(addr.node_id, (CloseCode.SHUTDOWN, b"shutdown"))
            connecting.add_done_callback(lambda done: _close_late(done, code, reason))
            raise
        except TimeoutError:
            raise ConnectFailed(f"no answer from {short} within {timeout:g} s") from None
        except ffi.IrohError as exc:
            raise ConnectFailed(f"cannot connect to {short}: {_message(exc)}") from None

    async def _refuse_streams(self, peer: IrohConnection) -> None:
        """Peers send requests on their own connections (spec §2): streams on ours are refused, not left hanging."""
        while True:
            try:
                bi = await peer._conn.accept_bi()
            except ffi.IrohError:
                return
            log.debug("refusing a stream opened by %s on our outgoing connection", peer.node_id[:16])
            self._spawn(IrohStream(bi, peer).abort(StreamCode.REFUSED))

    async def _keep_alive(self, peer: IrohConnection) -> None:
        """Close the connection when idle; when heartbeats are on, close it when the peer stops acknowledging."""
        while True:
            await asyncio.sleep(self._settings.heartbeat_interval)
            if peer.is_closed:
                return
            if time.monotonic() - peer.last_used >= self._settings.idle_timeout:
                log.debug("closing the idle connection to %s", peer.node_id[:16])
                peer.close(CloseCode.IDLE, b"idle")
                self._forget(peer)
                return
            if not await self._heartbeat(peer):
                log.info("peer %s missed its heartbeat; closing the connection", peer.node_id[:16])
                peer.close(CloseCode.HEARTBEAT_TIMEOUT, b"heartbeat timeout")
                return

    async def _heartbeat(self, peer: IrohConnection, timeout: float | None = None) -> bool:
        """Write the heartbeat frame on a new stream and require the peer's acknowledgement within ``timeout``
        (``heartbeat_timeout`` by default).

        A peer whose packets keep arriving while the heartbeat times out (e.g. all its stream slots are busy)
        counts as alive.
        """
        if self._settings.heartbeat_frame is None:
            return True
        try:
            frame = self._settings.heartbeat_frame()
        except Exception:
            log.exception("building the heartbeat frame failed")
            return True
        received = peer._rx_datagrams()
        timeout = self._settings.heartbeat_timeout if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            stream = await peer._open(timeout)
            try:
                await stream.write(frame, _remaining(deadline))
                await stream.finish(_remaining(deadline))
            finally:
                await stream.stop(StreamCode.DONE)  # the answer, if any, is not wanted
        except ConnectionClosed:
            return False
        except TransportError:
            return peer._rx_datagrams() > received
        return True

    # --- internals: incoming

    async def _accept_loop(self) -> None:
        while True:
            try:
                incoming = await self._ep.accept_next()
            except ffi.IrohError as exc:
                if self._ep.is_closed():
                    return
                log.warning("accepting connections failed: %s", _message(exc))
                await asyncio.sleep(0.1)
                continue
            if incoming is None or self._ep.is_closed():  # the endpoint is closed
                return
            if self._handshakes + sum(map(len, self._incoming.values())) >= self._settings.max_connections:
                log.info("refusing a connection: %d connections already", self._settings.max_connections)
                self._spawn(_quietly(incoming.refuse()))
                continue
            self._handshakes += 1
            self._spawn(self._handshake(incoming))

    async def _handshake(self, incoming: ffi.Incoming) -> None:
        try:
            try:
                accepting = await incoming.accept()
                conn = await _within(accepting.connect(), self._settings.handshake_timeout)
                node_id = str(conn.remote_id())
            except (TimeoutError, ffi.IrohError) as exc:
                log.debug("an incoming handshake failed: %s", _message(exc))
                return
        finally:
            self._handshakes -= 1
        peer = IrohConnection(conn, node_id, outgoing=False, spawn=self._spawn)
        self._note_move(peer)
        conns = self._incoming.setdefault(node_id, set())
        conns.add(peer)
        if len(conns) > self._settings.max_incoming_per_peer:  # one identity cannot take every connection slot
            oldest = min((c for c in conns if c is not peer), key=lambda c: c.last_used)
            oldest.close(CloseCode.OVERLOADED, b"too many connections")
            self._forget(oldest)
        if not await self._admitted(peer) or self._closing:
            self._forget(peer)
            return
        conn.set_max_concurrent_bi_streams(self._settings.max_streams)
        self._spawn(self._watch(peer))
        self._spawn(self._close_when_idle(peer))
        self._probe_pooled(peer)
        await self._serve(peer)

    def _probe_pooled(self, newer: IrohConnection) -> None:
        """A node connected to us while we hold a pooled connection to it: check that one is still alive.

        A peer dials us when it holds no connection to us, which after a restart (SIGKILL, crash, power loss) is
        always the case. Our pooled connection then leads to its dead process and would take every request of
        ours until a heartbeat fails (up to ``heartbeat_interval + heartbeat_timeout``). Until the probe has
        answered, :meth:`connect` waits for it rather than hand that connection out.
        """
        pooled = self._outgoing.get(newer.node_id)
        if pooled is None or pooled.is_closed or (pooled.probe is not None and not pooled.probe.done()):
            return
        if not self._closing:
            pooled.probe = self._jobs.spawn(self._probe(pooled, newer), f"probe {newer.node_id[:16]}")

    async def _probe(self, pooled: IrohConnection, newer: IrohConnection) -> bool:
        """Whether ``pooled`` acknowledges a heartbeat in time; if not, close it and the node's other connections
        older than ``newer`` (they lead to the same dead process)."""
        round_trip = (newer.rtt_ms() or 0) / 1000
        within = min(self._settings.heartbeat_timeout, max(self._settings.probe_timeout, 4 * round_trip))
        alive = await self._heartbeat(pooled, within)
        closed_by_us = pooled._local_close  # meanwhile, for another reason (idle, close_peer, shutdown)
        if alive or (closed_by_us is not None and closed_by_us[0] != CloseCode.HEARTBEAT_TIMEOUT):
            return alive
        stale = [conn for conn in self.connections(newer.node_id) if conn.created < newer.created]
        log.info(
            "peer %s connected again and our connection to it stayed silent for %.1f s (it restarted): "
            "closing %d connection(s) with its previous process",
            newer.node_id[:16],
            within,
            len(stale),
        )
        for conn in stale:
            conn.close(CloseCode.NORMAL, b"replaced")
            self._forget(conn)
        return False

    def _note_move(self, peer: IrohConnection) -> None:
        """Remember that a node connected from an address none of its open connections uses (it moved).

        A connection whose paths cannot be read (closing) tells nothing either way.
        """
        here = set(peer.remote_addresses())
        others = [other.remote_addresses() for other in self.connections(peer.node_id)]
        if here and any(there and here.isdisjoint(there) for there in others):
            self._moved.add(peer.node_id)

    async def _close_when_idle(self, peer: IrohConnection) -> None:
        """Close an incoming connection that carried no stream for ``idle_timeout`` seconds."""
        while not peer.is_closed:
            await asyncio.sleep(self._settings.heartbeat_interval)
            if not peer.is_closed and time.monotonic() - peer.last_used >= self._settings.idle_timeout:
                log.debug("closing the idle connection from %s", peer.node_id[:16])
                peer.close(CloseCode.IDLE, b"idle")
                self._forget(peer)

    async def _admitted(self, peer: IrohConnection) -> bool:
        try:
            admitted = await self._settings.admit(peer.node_id)
        except Exception:
            log.exception("the admission check for %s failed", peer.node_id[:16])
            peer.close(CloseCode.INTERNAL, b"internal error")
            return False
        if not admitted:
            peer.close(CloseCode.BLOCKED, b"blocked")
        return admitted

    async def _serve(self, peer: IrohConnection) -> None:
        """Accept the peer's streams, one task each, at most ``max_streams_per_connection`` at a time."""
        slots = asyncio.Semaphore(self._settings.max_streams)
        while True:
            await slots.acquire()
            try:
                bi = await peer._conn.accept_bi()
            except ffi.IrohError:
                slots.release()
                return
            if not self._spawn(self._serve_stream(peer, IrohStream(bi, peer), slots)):
                return

    async def _serve_stream(self, peer: IrohConnection, stream: IrohStream, slots: asyncio.Semaphore) -> None:
        peer.last_used = time.monotonic()
        try:
            if await run_handler(self._settings.on_stream, peer, stream):
                await stream._settle(self._settings.finish_timeout)
        finally:
            slots.release()

    # --- internals: both directions

    async def _watch(self, peer: IrohConnection) -> None:
        text = "connection lost"
        try:
            text = await peer._conn.closed()
        except ffi.IrohError as exc:
            text = _message(exc)
        finally:  # also when cancelled by close(), so that wait_closed() returns
            peer._mark_closed(text)
            self._forget(peer)
            if not self.connections(peer.node_id):
                self._moved.discard(peer.node_id)
        log.debug("connection %s %s closed: %s", "to" if peer.outgoing else "from", peer.node_id[:16], text)
        if self._lost_matters(peer) and self._settings.on_connection_lost is not None:
            try:
                await self._settings.on_connection_lost(peer.node_id)
            except Exception:
                log.exception("the connection-lost hook failed for %s", peer.node_id[:16])

    def _lost_matters(self, peer: IrohConnection) -> bool:
        """A pooled connection ended without us choosing to close it (heartbeat failures count as lost)."""
        if not peer.outgoing or self._closing:
            return False
        replacement = self._outgoing.get(peer.node_id)
        if replacement is not None and not replacement.is_closed:
            return False
        local = peer._local_close
        return local is None or local[0] == CloseCode.HEARTBEAT_TIMEOUT
