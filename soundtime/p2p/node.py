"""The federation node: identity, transport, peer registry, contact schedule, catalog push and replication."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import soundtime
from soundtime.blobs.store import BlobStore
from soundtime.config import Settings
from soundtime.kit.db import Database
from soundtime.kit.jobs import Jobs
from soundtime.kit.ratelimit import RateLimiter
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.discovery import LocalDiscovery
from soundtime.p2p.downloads import Downloads
from soundtime.p2p.errors import PeerError, PeerMisbehaved
from soundtime.p2p.filters import SearchFilters
from soundtime.p2p.health.keeper import HealthKeeper
from soundtime.p2p.identity import load_or_create_secret_key
from soundtime.p2p.inbound import Inbound
from soundtime.p2p.library_sync.tracker import Resyncs
from soundtime.p2p.messenger import Messenger
from soundtime.p2p.policy import Policy, Timings
from soundtime.p2p.sync import VERSION_SUFFIX, CatalogSync
from soundtime.p2p.transport import (
    Callbacks,
    CloseCode,
    IrohTransport,
    PeerAddress,
    StartTransport,
    Transport,
    normalize_node_id,
    parse_peer_address,
)
from soundtime.p2p.validation import direct_address
from soundtime.search.distributed import DistributedSearch

log = logging.getLogger(__name__)

#: What we tell peers our version is (SoundTime shows it in its peer list).
VERSION = f"{soundtime.__version__}{VERSION_SUFFIX}"
#: Largest track count we store for a peer (the column is a signed 64-bit integer; the wire allows u64).
MAX_TRACK_COUNT = (1 << 63) - 1


def _utcnow() -> datetime:
    return datetime.now(UTC)


def iroh_transports(settings: Settings, policy: Policy) -> StartTransport:
    """Start the real transport: an iroh endpoint on ``P2P_BIND_PORT`` with the node's heartbeat."""

    async def start(secret_key: bytes, callbacks: Callbacks, jobs: Jobs) -> Transport:
        return await IrohTransport.start(
            secret_key=secret_key,
            port=settings.p2p_bind_port,
            relay=settings.p2p_relay,
            on_stream=callbacks.on_stream,
            admit=callbacks.admit,
            max_connections=settings.p2p_max_connections,
            heartbeat_frame=callbacks.heartbeat_frame,
            heartbeat_interval=policy.timings.heartbeat_interval,
            heartbeat_timeout=policy.timings.heartbeat_timeout,
            on_connection_lost=callbacks.on_connection_lost,
            jobs=jobs,
        )

    return start


class P2PNode:
    """One federation node per process: owns the transport and every background job of federation."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        audio: BlobStore,
        blobs: BlobStore,
        cache: AudioCache | None = None,
        *,
        timings: Timings | None = None,
        rng: random.Random | None = None,
        transports: StartTransport | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.audio = audio
        self.blobs = blobs
        self.cache = cache if cache is not None else AudioCache(settings.cache_dir, settings.p2p_cache_max_size)
        self.policy = Policy.from_settings(settings, timings)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._start_transport = transports or iroh_transports(settings, self.policy)
        self.jobs = Jobs("p2p", expected=(PeerError,))
        self._work = self.jobs.group("node")
        self.node_id = ""
        self.own_track_count = 0
        self._transport: Transport | None = None
        self.messenger = Messenger(self.address_of, self.policy)
        self._inbound = Inbound(self)
        self.sync = CatalogSync(self)
        self.filters = SearchFilters(self)
        self.search = DistributedSearch(self)
        self.downloads = Downloads(self)
        self.health = HealthKeeper(self)
        self.resyncs = Resyncs(self.spawn)
        self._discovery: LocalDiscovery | None = None
        self._blocked: set[str] = set()
        self._addresses: dict[str, PeerAddress] = {}
        self._contacts: dict[str, asyncio.Task[wire.Pong | None]] = {}
        self._dial_slots = asyncio.Semaphore(self.policy.limits.dial_concurrency)
        self._exchange_cursor = 0
        self._learn_limiter = RateLimiter(self.policy.limits.learns_per_minute, 60.0)

    # --- lifecycle ------------------------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        """The running transport (only valid between start and stop)."""
        if self._transport is None:
            raise RuntimeError("the p2p node is not running")
        return self._transport

    async def start(self) -> None:
        """Load identity and state, bind the endpoint, register seed peers and start the schedule."""
        secret = await asyncio.to_thread(load_or_create_secret_key, self.settings.secret_key_path)
        async with self.db.transaction() as session:
            self._blocked = await repo.blocked_set(session)
            await repo.mark_all_offline(session)
            self.own_track_count = await repo.own_track_count(session)
        callbacks = Callbacks(
            on_stream=self._inbound.dispatch,
            admit=self._admit,
            on_connection_lost=self._connection_lost,
            heartbeat_frame=self._heartbeat_frame,
        )
        self._transport = await self._start_transport(secret, callbacks, self.jobs)
        self.node_id = self._transport.node_id
        self.messenger.attach(self._transport)
        self.filters.start()
        await self._register_seeds()
        self.spawn(self._run_rounds(), "p2p rounds")
        self.spawn(self.health.run_periodically(), "health sweeps")
        if self.settings.p2p_local_discovery:
            ports = self._transport.bound_ports()
            self._discovery = LocalDiscovery(self.node_id, ports, self._found_on_lan, jobs=self.jobs)
            await self._discovery.start()
        log.info("p2p node %s listening on %s", self.node_id, ", ".join(self._transport.address().direct_addresses))

    async def stop(self) -> None:
        """Stop the schedule, close every connection and the endpoint."""
        if self._discovery is not None:
            await self._discovery.stop()
        await self._work.close()
        self.messenger.detach()
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        await self.jobs.close()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a background job owned by the node (cancelled at stop; failures are logged; none once stopping)."""
        return self._work.spawn(coro, name)

    # --- registry --------------------------------------------------------------------------------------------

    def is_blocked(self, node_id: str) -> bool:
        """Whether the node is blocked (by id)."""
        return node_id in self._blocked

    async def address_of(self, node_id: str) -> PeerAddress | None:
        """How to dial a peer; None when it is blocked, ourselves, or unknown without any address."""
        if node_id in self._blocked or node_id == self.node_id:
            return None
        known = self._addresses.get(node_id)
        if known is not None:
            return known
        async with self.db.transaction() as session:
            peer = await repo.get_peer(session, node_id)
        if peer is None:
            return None
        address = PeerAddress(node_id, tuple(str(a) for a in peer.addresses), peer.relay_url)
        if not address.direct_addresses and not (address.relay_url or self.settings.p2p_relay):
            return None
        self._addresses[node_id] = address
        return address

    def _remember_address(self, node_id: str, addresses: Sequence[str]) -> None:
        if addresses:
            self._addresses[node_id] = PeerAddress(node_id, tuple(addresses))

    async def add_peer(self, address: PeerAddress, *, source: str = "manual") -> None:
        """Register a peer we were told about (seed, admin, LAN) so it can be dialled."""
        if address.node_id == self.node_id or address.node_id in self._blocked:
            return
        async with self.db.transaction() as session:
            await repo.remember_peer(session, address.node_id, source=source, addresses=list(address.direct_addresses))
        self._addresses.pop(address.node_id, None)
        self._remember_address(address.node_id, address.direct_addresses)

    async def _register_seeds(self) -> None:
        for entry in self.settings.p2p_seed_peers:
            try:
                address = parse_peer_address(entry)
            except ValueError as exc:
                log.warning("ignoring seed peer %r: %s", entry, exc)
                continue
            await self.add_peer(address, source="seed")

    async def _admit(self, node_id: str) -> bool:
        """Whether an incoming connection from ``node_id`` is accepted; accepted peers are registered online."""
        if node_id in self._blocked or node_id == self.node_id:
            return False
        async with self.db.transaction() as session:
            await repo.touch_peer(session, node_id, source="inbound")
        return True

    async def seen_on(self, node_id: str, addresses: Sequence[str]) -> None:
        """A peer talked to us from these addresses (kept so it can be dialled later)."""
        if node_id in self._blocked:
            return
        valid = [a for a in (direct_address(x) for x in addresses) if a is not None]
        async with self.db.transaction() as session:
            await repo.touch_peer(session, node_id, source="inbound", addresses=valid)
        self._remember_address(node_id, valid)

    async def _connection_lost(self, node_id: str) -> None:
        async with self.db.transaction() as session:
            await repo.mark_offline(session, [node_id])

    def _heartbeat_frame(self) -> bytes:
        # An unsolicited Pong: SoundTime reads and ignores it, and its acknowledgement proves the peer alive.
        return wire.encode_frame(self.pong())

    def pong(self) -> wire.Pong:
        """Our answer to a Ping."""
        return wire.Pong(node_id=self.node_id, track_count=self.own_track_count, version=VERSION)

    async def block(self, node_ids: Sequence[str]) -> None:
        """Enforce new blocks at once: forget how to dial them, stop pushes, close their open connections."""
        self._blocked.update(node_ids)
        for node_id in node_ids:
            self._addresses.pop(node_id, None)
            self.sync.cancel_push(node_id)
            self.filters.drop(node_id)
            if self._transport is not None:
                self._transport.close_peer(node_id, CloseCode.BLOCKED, b"blocked")
        async with self.db.transaction() as session:
            await repo.mark_offline(session, node_ids)

    def unblock(self, node_id: str) -> None:
        """Lift a block (the peer may be contacted again)."""
        self._blocked.discard(node_id)

    async def forget(self, node_id: str) -> None:
        """A peer was deleted: close its connections and drop what we cached about it."""
        self._addresses.pop(node_id, None)
        self.filters.drop(node_id)
        if self._transport is not None:
            self._transport.close_peer(node_id, CloseCode.NORMAL, b"forgotten")

    # --- contact ---------------------------------------------------------------------------------------------

    async def contact(self, node_id: str) -> wire.Pong | None:
        """Ping a peer (one attempt at a time per peer); on Pong exchange peers and push our catalog."""
        running = self._contacts.get(node_id)
        if running is None or running.done():
            running = self.spawn(self._contact(node_id), f"contact {node_id[:16]}")
            self._contacts[node_id] = running
        return await asyncio.shield(running)

    async def _contact(self, node_id: str) -> wire.Pong | None:
        try:
            async with self._dial_slots:
                pong = await self.ping(node_id)
        except Exception as exc:
            await self.record_failure(node_id)
            if isinstance(exc, PeerError):
                log.info("peer %s unreachable: %s", node_id[:16], exc)
            else:
                log.exception("contacting peer %s failed", node_id[:16])
            return None
        finally:
            self._contacts.pop(node_id, None)
        self.spawn(self.exchange_with(node_id), f"exchange {node_id[:16]}")
        self.sync.push(node_id)
        self.filters.send_to(node_id)
        if pong.track_count > 0:
            self.spawn(self._catch_up(node_id), f"catch up with {node_id[:16]}")
        return pong

    async def _catch_up(self, node_id: str) -> None:
        """Ask for the whole catalog of a peer that has tracks we hold no source of (deleted, or a lost sync).

        Its own push after our Ping comes first; only when nothing arrived is the whole catalog requested.
        """
        await asyncio.sleep(self.policy.timings.catch_up_delay)
        async with self.db.transaction() as session:
            if await repo.source_count(session, node_id) > 0:
                return
        await self.messenger.send(node_id, wire.RequestCatalog())

    async def ping(self, node_id: str) -> wire.Pong:
        """Ping a peer and record its Pong (track count, version, online)."""
        reply = await self.messenger.request(node_id, wire.Ping())
        if not isinstance(reply, wire.Pong):
            raise PeerMisbehaved(f"peer {node_id[:16]} answered Ping with {type(reply).__name__}")
        if reply.node_id != node_id:
            raise PeerMisbehaved(f"peer {node_id[:16]} claims to be {reply.node_id[:16]}")
        await self.record_pong(node_id, reply)
        return reply

    async def record_pong(self, node_id: str, pong: wire.Pong) -> None:
        """A peer answered (or sent a heartbeat): it is online, with this track count and version."""
        if node_id in self._blocked:
            return
        async with self.db.transaction() as session:
            await repo.touch_peer(session, node_id, source="inbound")  # the source is kept when known
            await repo.record_pong(session, node_id, min(pong.track_count, MAX_TRACK_COUNT), pong.version)

    async def record_failure(self, node_id: str) -> None:
        """A contact attempt failed: offline, and the next attempt waits (exponential back-off with jitter)."""
        async with self.db.transaction() as session:
            peer = await repo.get_peer(session, node_id)
            if peer is None:
                return
            delay = min(
                self.policy.timings.backoff_base * 2 ** min(peer.failure_count, 16), self.policy.timings.backoff_max
            )
            delay *= 0.75 + self._rng.random() / 2  # jitter: peers that failed together do not retry together
            await repo.record_failure(session, node_id, _utcnow() + timedelta(seconds=delay))

    async def _found_on_lan(self, node_id: str, addresses: list[str]) -> None:
        if node_id in self._blocked or node_id == self.node_id:
            return
        await self.add_peer(PeerAddress(node_id, tuple(addresses)), source="local")
        self.spawn(self.contact(node_id), f"contact {node_id[:16]} (LAN)")

    # --- schedule --------------------------------------------------------------------------------------------

    async def _run_rounds(self) -> None:
        while True:
            try:
                await self.run_round()
            except Exception:
                log.exception("p2p round failed")
            await asyncio.sleep(self.policy.timings.round_interval)

    async def run_round(self) -> None:
        """One round: re-contact due offline peers, exchange with a few online ones, push pending changes."""
        async with self.db.transaction() as session:
            await repo.forget_unreachable_learned(session, self.policy.limits.forget_after_failures)
            due = await repo.peers_due(session, _utcnow(), self.policy.limits.redials_per_round)
            online = [p.node_id for p in await repo.list_peers(session) if p.is_online]
            self.own_track_count = await repo.own_track_count(session)
        contacts = [self.contact(p.node_id) for p in due if p.node_id not in self._blocked]
        await asyncio.gather(*contacts, return_exceptions=True)
        online = [n for n in online if n not in self._blocked]
        if online:
            start = self._exchange_cursor % len(online)
            chosen = (online[start:] + online[:start])[: self.policy.limits.exchange_fanout]
            self._exchange_cursor += self.policy.limits.exchange_fanout
            results = await asyncio.gather(*(self.exchange_with(n) for n in chosen), return_exceptions=True)
            for node_id, result in zip(chosen, results, strict=True):
                if isinstance(result, PeerError):
                    log.info("peer exchange with %s failed: %s", node_id[:16], result)
        for node_id in online:
            self.sync.push(node_id)
        self.filters.send_round(online)

    # --- peer exchange ---------------------------------------------------------------------------------------

    async def exchange_message(self) -> wire.PeerExchange:
        """Our PeerExchange: known, unblocked ids plus our own, with the direct addresses we know for them."""
        async with self.db.transaction() as session:
            peers = await repo.list_peers(session)
        ids = [p.node_id for p in peers if p.node_id not in self._blocked][: self.policy.limits.max_exchange_ids - 1]
        hints = {
            p.node_id: [str(a) for a in p.addresses][: self.policy.limits.max_hints_per_id]
            for p in peers
            if p.node_id in ids and p.addresses
        }
        own = self.transport.address().direct_addresses
        if own:
            hints[self.node_id] = list(own[: self.policy.limits.max_hints_per_id])
        return wire.PeerExchange(peers=[*ids, self.node_id], addresses=hints or None)

    async def exchange_with(self, node_id: str) -> None:
        """Exchange peer lists with a peer and learn from its answer."""
        reply = await self.messenger.request(node_id, await self.exchange_message())
        if not isinstance(reply, wire.PeerExchange):
            raise PeerMisbehaved(f"peer {node_id[:16]} answered PeerExchange with {type(reply).__name__}")
        await self.learn(node_id, reply)

    async def learn(self, sender: str, message: wire.PeerExchange) -> None:
        """Record a peer's list (graph links) and register the new, unblocked ids; then contact the new ones."""
        if self._learn_limiter.hit(sender) > 0:
            log.info("ignoring a peer list from %s: too many lists in a minute", sender[:16])
            return
        ids: list[str] = []
        for raw in dict.fromkeys(message.peers[: self.policy.limits.max_exchange_ids]):
            node_id = _valid_node_id(raw)
            if node_id is not None and node_id not in (self.node_id, sender) and node_id not in self._blocked:
                ids.append(node_id)
        ids = list(dict.fromkeys(ids))
        hints: dict[str, list[str]] = {node_id: [] for node_id in ids}
        for raw_id, raw_addresses in (message.addresses or {}).items():
            node_id = raw_id.lower()
            if node_id in hints:
                valid = (direct_address(a) for a in raw_addresses[: self.policy.limits.max_hints_per_id])
                hints[node_id] = [a for a in valid if a is not None]
        async with self.db.transaction() as session:
            known = await repo.existing_peer_ids(session, ids)
            room = self.policy.limits.max_learned_peers - await repo.peer_count(session)
            new = [node_id for node_id in ids if node_id not in known][
                : max(min(room, self.policy.limits.new_ids_per_list), 0)
            ]
            await repo.add_learned_peers(session, {node_id: hints[node_id] for node_id in [*known, *new]})
            await repo.replace_links(session, sender, ids)
        for node_id in new:  # a hint never replaces what we know of a peer (the database keeps the same rule)
            if hints[node_id]:
                self._addresses.setdefault(node_id, PeerAddress(node_id, tuple(hints[node_id])))
        for node_id in new[: self.policy.limits.redials_per_round]:
            self.spawn(self.contact(node_id), f"contact {node_id[:16]} (learned)")


def _valid_node_id(text: str) -> str | None:
    """``text`` as a node id if it is one (64 hex, a valid Ed25519 key), else None."""
    if len(text) != 64:
        return None
    try:
        return normalize_node_id(text)
    except ValueError:
        return None
