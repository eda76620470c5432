"""The federation node: the composition root. It builds the parts, wires them to each other through narrow ports
and signals, starts and stops them. It decides nothing: every decision lives in the part that owns it (or in a
pure planner of :mod:`soundtime.p2p.plans`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Sequence

from soundtime.blobs.store import BlobStore
from soundtime.config import Settings
from soundtime.kit.activity import LastSeen
from soundtime.kit.db import Database
from soundtime.kit.jobs import Jobs
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.cache import AudioCache
from soundtime.p2p.catalog import Replicated
from soundtime.p2p.discovery import LocalDiscovery
from soundtime.p2p.downloads import Downloads
from soundtime.p2p.errors import PeerError
from soundtime.p2p.health.keeper import HealthKeeper
from soundtime.p2p.identity import load_or_create_secret_key
from soundtime.p2p.inbound import Inbound
from soundtime.p2p.library_sync.tracker import Resyncs
from soundtime.p2p.messenger import PeerMessenger
from soundtime.p2p.peers.contacts import Contacts
from soundtime.p2p.peers.exchange import PeerExchange
from soundtime.p2p.peers.registry import PeerRegistry
from soundtime.p2p.policy import Limits, Policy, Timings
from soundtime.p2p.ports import Blocklist, Handler, OwnNode, Signals
from soundtime.p2p.serving import BlobServer
from soundtime.p2p.sync import CatalogSync
from soundtime.p2p.transport import Callbacks, IrohTransport, PeerAddress, StartTransport, Transport

log = logging.getLogger(__name__)


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
            max_incoming_per_peer=policy.limits.max_incoming_per_peer,
            heartbeat_frame=callbacks.heartbeat_frame,
            heartbeat_interval=policy.timings.heartbeat_interval,
            heartbeat_timeout=policy.timings.heartbeat_timeout,
            probe_timeout=policy.timings.probe_timeout,
            on_connection_lost=callbacks.on_connection_lost,
            jobs=jobs,
        )

    return start


class P2PNode:
    """One federation node per process: its parts, and every background job of federation."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        audio: BlobStore,
        blobs: BlobStore,
        cache: AudioCache | None = None,
        *,
        timings: Timings | None = None,
        limits: Limits | None = None,
        rng: random.Random | None = None,
        transports: StartTransport | None = None,
        last_play: LastSeen | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.cache = cache if cache is not None else AudioCache(settings.cache_dir, settings.p2p_cache_max_size)
        self.policy = policy = Policy.from_settings(settings, timings, limits)
        self.own = own = OwnNode()
        self.signals = signals = Signals()
        self.jobs = Jobs("p2p", expected=(PeerError,))
        self._work = jobs = self.jobs.group("node")
        self._start_transport = transports or iroh_transports(settings, policy)
        self._transport: Transport | None = None
        self._discovery: LocalDiscovery | None = None

        async def address_of(node_id: str) -> PeerAddress | None:
            return await peers.address_of(node_id)  # the registry is built next: it closes peers via the messenger

        self.messenger = messenger = PeerMessenger(address_of, policy)
        self.peers = peers = PeerRegistry(
            db,
            own,
            policy,
            relay=settings.p2p_relay,
            peer_blocked=signals.peer_blocked,
            peer_forgotten=signals.peer_forgotten,
            pinged=signals.pinged,
            close_peer=messenger.close_peer,
            rng=rng,
        )
        self.resyncs = Resyncs(
            jobs.spawn,
            idle_timeout=policy.timings.resync_idle_timeout,
            max_remembered=policy.limits.max_remembered_resyncs,
        )
        self.sync = sync = CatalogSync(
            db=db,
            own=own,
            policy=policy,
            jobs=jobs,
            messenger=messenger,
            blocklist=peers,
            covers=blobs,
            unreachable=peers.record_failure,
            catalogue_changed=signals.catalogue_changed,
            page_received=self.resyncs.page_received,
            last_play=last_play,
        )
        self.health = health = HealthKeeper(
            db=db, policy=policy, jobs=jobs, messenger=messenger, blocklist=peers, cache=self.cache
        )
        self.downloads = Downloads(
            db=db,
            policy=policy,
            jobs=jobs,
            messenger=messenger,
            blocklist=peers,
            cache=self.cache,
            failed_play=health.after_failed_play,
        )

        def own_addresses() -> tuple[str, ...]:
            return messenger.transport.address().direct_addresses

        def contact_soon(node_id: str, why: str) -> None:
            contacts.contact_soon(node_id, why)

        def exchange_soon(node_id: str) -> None:
            jobs.spawn(exchange.exchange_with(node_id), f"exchange {node_id[:16]}")

        self.exchange = exchange = PeerExchange(
            db=db,
            own=own,
            policy=policy,
            messenger=messenger,
            blocklist=peers,
            hinted=peers.hinted,
            own_addresses=own_addresses,
            contact=contact_soon,
        )
        self.contacts = contacts = Contacts(
            db=db,
            own=own,
            policy=policy,
            jobs=jobs,
            messenger=messenger,
            registry=peers,
            exchange_with=exchange.exchange_with,
            contacted=signals.contacted,
            round_done=signals.round_done,
        )
        serving = BlobServer(db, policy, audio=audio, covers=blobs, cache=self.cache)

        signals.pinged.connect(sync.push)
        signals.contacted.connect(exchange_soon)
        signals.contacted.connect(functools.partial(sync.push, min_interval=0))  # it was offline: send what it missed
        signals.round_done.connect(sync.push_to)
        signals.peer_blocked.connect(sync.cancel_push)

        self.inbound = inbound = Inbound(peers, policy)
        inbound.register(wire.Ping, peers.answer_ping)
        inbound.register(wire.Pong, peers.heartbeat)
        inbound.register(wire.PeerExchange, exchange.answer)
        inbound.register(wire.AnnounceTrack, sync.on_announce)
        inbound.register(wire.CatalogSync, sync.on_catalog)
        inbound.register(wire.CatalogDelta, sync.on_delta)
        inbound.register(wire.RequestCatalog, sync.on_request_catalog)
        inbound.register(wire.FetchTrack, serving.answer)

    # --- the faces the application and extensions use (soundtime.p2p.face)

    @property
    def blocklist(self) -> Blocklist:
        """Whether a node is blocked (the registry decides)."""
        return self.peers

    @property
    def node_id(self) -> str:
        """Our node id (empty until the node has started)."""
        return self.own.node_id

    @property
    def transport(self) -> Transport:
        """The running transport (PeerUnavailable when the node is not running)."""
        return self.messenger.transport

    def handle(self, kind: type[wire.Message], handler: Handler) -> None:
        """Serve requests of type ``kind`` with ``handler`` (distributed search registers its own)."""
        self.inbound.register(kind, handler)

    async def replicate(self, sender: str, tracks: Sequence[wire.TrackAnnouncement]) -> Replicated:
        """Ingest announcements from ``sender`` as if it had pushed them (an imported search hit)."""
        return await self.sync.replicate(sender, tracks)

    def catalogue_changed(self) -> None:
        """The tracks we know changed (a deletion): the siblings that keep a view of them are told."""
        self.signals.catalogue_changed()

    def tracks_added(self) -> None:
        """Our library gained tracks: announce them to the online peers (in the background)."""
        self._work.spawn(self.sync.announce(), "announce upload")

    # --- lifecycle

    async def start(self) -> None:
        """Load identity and state, bind the transport, register seed peers and start the schedule."""
        secret = await asyncio.to_thread(load_or_create_secret_key, self.settings.secret_key_path)
        async with self.db.transaction() as session:
            await self.peers.load(session)
            self.own.track_count = await repo.own_track_count(session)
        callbacks = Callbacks(
            on_stream=self.inbound.dispatch,
            admit=self.peers.admit,
            on_connection_lost=self.peers.connection_lost,
            heartbeat_frame=lambda: wire.encode_frame(self.own.pong()),  # SoundTime reads and ignores it
        )
        self._transport = await self._start_transport(secret, callbacks, self.jobs)
        self.own.node_id = self._transport.node_id
        self.messenger.attach(self._transport)
        self.signals.started()
        await self.contacts.start(self.settings.p2p_seed_peers)
        self._work.spawn(self.health.run_periodically(), "health sweeps")
        if self.settings.p2p_local_discovery:
            ports = self._transport.bound_ports()
            timings, limits = self.policy.timings, self.policy.limits
            self._discovery = LocalDiscovery(
                self.node_id,
                ports,
                self.contacts.found_on_lan,
                report_interval=timings.lan_report_interval,
                resolve_timeout=timings.lan_resolve_timeout,
                max_pending=limits.max_lan_pending,
                jobs=self.jobs,
            )
            await self._discovery.start()
        log.info("p2p node %s listening on %s", self.node_id, ", ".join(self._transport.address().direct_addresses))

    async def stop(self) -> None:
        """Stop the schedule, close every connection and the transport."""
        if self._discovery is not None:
            await self._discovery.stop()
        await self._work.close()
        self.messenger.detach()
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        await self.jobs.close()
