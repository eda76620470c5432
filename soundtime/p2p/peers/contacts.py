"""Contact scheduling: pinging peers (one attempt at a time per peer, a bounded number of dials at once), the
periodic round (re-dial due peers, exchange with a few online ones, tell the siblings who is online), the
catch-up request to a peer whose catalog never arrived, and peers found on the LAN."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from soundtime.kit.db import Database
from soundtime.kit.jobs import JobRunner
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerError, PeerMisbehaved
from soundtime.p2p.plans.schedule import rotate
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import OwnNode, Requests, Signal
from soundtime.p2p.transport import PeerAddress, parse_peer_address

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PeerBook(Protocol):
    """What contact scheduling needs of the peer registry."""

    def is_blocked(self, node_id: str) -> bool:
        """Whether the node is blocked."""
        ...

    async def add(self, address: PeerAddress, *, source: str = "manual") -> bool:
        """Register a peer we were told about."""
        ...

    async def record_pong(self, node_id: str, pong: wire.Pong) -> None:
        """A peer answered our Ping."""
        ...

    async def record_failure(self, node_id: str) -> None:
        """A contact attempt failed."""
        ...


class Contacts:
    """When and how we talk to peers first: Pings, rounds, catch-ups."""

    def __init__(
        self,
        *,
        db: Database,
        own: OwnNode,
        policy: Policy,
        jobs: JobRunner,
        messenger: Requests,
        registry: PeerBook,
        exchange_with: Callable[[str], Awaitable[None]],
        contacted: Signal[[str]],
        round_done: Signal[[list[str]]],
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._jobs = jobs
        self._messenger = messenger
        self._registry = registry
        self._exchange_with = exchange_with
        self._contacted = contacted
        self._round_done = round_done
        self._clock = clock
        self._running: dict[str, asyncio.Task[wire.Pong | None]] = {}
        self._dial_slots = asyncio.Semaphore(self._policy.limits.dial_concurrency)
        self._exchange_cursor = 0

    async def start(self, seeds: Sequence[str]) -> None:
        """Register the seed peers (``id``, ``id@ip:port`` or tickets; bad ones are logged), contact them and start
        the rounds.

        The seeds are pinged at once rather than by the first round (which reads the registry first): their
        catalogues start to flow that much sooner. The round finds them being contacted (it joins that attempt),
        online, or backed off.
        """
        registered = []
        for entry in seeds:
            try:
                address = parse_peer_address(entry)
            except ValueError as exc:
                log.warning("ignoring seed peer %r: %s", entry, exc)
                continue
            if await self._registry.add(address, source="seed"):
                registered.append(address.node_id)
        for node_id in dict.fromkeys(registered):
            self.contact_soon(node_id, "seed")
        self._jobs.spawn(self._run_rounds(), "p2p rounds")

    # --- contact

    async def contact(self, node_id: str) -> wire.Pong | None:
        """Ping a peer (one attempt at a time per peer); on Pong the siblings are told (exchange, push, filters).

        None when the peer did not answer (the failure is recorded and its next attempt backed off).
        """
        running = self._running.get(node_id)
        if running is None or running.done():
            running = self._jobs.spawn(self._contact(node_id), f"contact {node_id[:16]}")
            self._running[node_id] = running
        return await asyncio.shield(running)

    def contact_soon(self, node_id: str, why: str) -> None:
        """Contact a peer in the background."""
        self._jobs.spawn(self.contact(node_id), f"contact {node_id[:16]} ({why})")

    async def _contact(self, node_id: str) -> wire.Pong | None:
        try:
            async with self._dial_slots:
                pong = await self.ping(node_id)
        except Exception as exc:
            await self._registry.record_failure(node_id)
            if isinstance(exc, PeerError):
                log.info("peer %s unreachable: %s", node_id[:16], exc)
            else:
                log.exception("contacting peer %s failed", node_id[:16])
            return None
        finally:
            self._running.pop(node_id, None)
        self._contacted(node_id)
        if pong.track_count > 0:
            self._jobs.spawn(self._catch_up(node_id), f"catch up with {node_id[:16]}")
        return pong

    async def ping(self, node_id: str) -> wire.Pong:
        """Ping a peer and record its Pong (track count, version, online)."""
        reply = await self._messenger.request(node_id, wire.Ping())
        if not isinstance(reply, wire.Pong):
            raise PeerMisbehaved(f"peer {node_id[:16]} answered Ping with {type(reply).__name__}")
        if reply.node_id != node_id:
            raise PeerMisbehaved(f"peer {node_id[:16]} claims to be {reply.node_id[:16]}")
        await self._registry.record_pong(node_id, reply)
        return reply

    async def _catch_up(self, node_id: str) -> None:
        """Ask for the whole catalog of a peer that has tracks we hold no source of (deleted, or a lost sync).

        Its own push after our Ping comes first; only when nothing arrived is the whole catalog requested.
        """
        await asyncio.sleep(self._policy.timings.catch_up_delay)
        async with self._db.transaction() as session:
            if await repo.source_count(session, node_id) > 0:
                return
        await self._messenger.send(node_id, wire.RequestCatalog())

    async def found_on_lan(self, node_id: str, addresses: list[str]) -> None:
        """LAN discovery reported a node: register and contact it."""
        if await self._registry.add(PeerAddress(node_id, tuple(addresses)), source="local"):
            self.contact_soon(node_id, "LAN")

    # --- the schedule

    async def _run_rounds(self) -> None:
        while True:
            try:
                await self.run_round()
            except Exception:
                log.exception("p2p round failed")
            await asyncio.sleep(self._policy.timings.round_interval)

    async def run_round(self) -> None:
        """One round: re-contact due offline peers, exchange with a few online ones, tell who is online."""
        limits = self._policy.limits
        async with self._db.transaction() as session:
            await repo.forget_unreachable_learned(session, limits.forget_after_failures)
            due = await repo.peers_due(session, self._clock(), limits.redials_per_round)
            online = await repo.online_peer_ids(session)
            self._own.track_count = await repo.own_track_count(session)
        # Not dialled at all (the messenger would refuse it anyway), so a blocked peer collects no failures.
        await asyncio.gather(
            *(self.contact(p.node_id) for p in due if not self._registry.is_blocked(p.node_id)), return_exceptions=True
        )
        chosen, self._exchange_cursor = rotate(online, self._exchange_cursor, limits.exchange_fanout)
        results = await asyncio.gather(*(self._exchange_with(n) for n in chosen), return_exceptions=True)
        for node_id, result in zip(chosen, results, strict=True):
            if isinstance(result, PeerError):
                log.info("peer exchange with %s failed: %s", node_id[:16], result)
        self._round_done(online)
