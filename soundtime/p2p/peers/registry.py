"""The peer registry: the blocked set, how to dial each peer, who may connect, what Pongs and failures teach us.

The database is the registry's memory (rows of peers and blocks); this object holds what must be answered without
a query — whether a node is blocked, a peer's last known address — and changes it only once the transaction that
records the change has committed (the HTTP service calls :meth:`PeerRegistry.blocked`, :meth:`unblock` and
:meth:`forget` from ``on_commit``).
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.db import Database
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.plans.schedule import retry_delay
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import MAX_TRACK_COUNT, ClosePeer, OwnNode, Signal
from soundtime.p2p.transport import CloseCode, PeerAddress, PeerConnection, Stream
from soundtime.p2p.validation import direct_address

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PeerRegistry:
    """Blocked nodes, peer addresses, admission, Pongs and heartbeats, failures and back-off."""

    def __init__(
        self,
        db: Database,
        own: OwnNode,
        policy: Policy,
        *,
        relay: bool,
        peer_blocked: Signal[[str]],
        peer_forgotten: Signal[[str]],
        pinged: Signal[[str]],
        close_peer: ClosePeer,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._relay = relay
        self._peer_blocked = peer_blocked
        self._peer_forgotten = peer_forgotten
        self._pinged = pinged
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._clock = clock
        self._close_peer = close_peer
        self._blocked: set[str] = set()
        self._addresses: dict[str, PeerAddress] = {}
        self._heartbeats: OrderedDict[str, tuple[wire.Pong, float]] = OrderedDict()

    async def load(self, session: AsyncSession) -> None:
        """At start-up, in the node's first transaction: read the block list; nothing is connected yet."""
        self._blocked = await repo.blocked_set(session)
        await repo.mark_all_offline(session)

    # --- blocking (the one place it is decided)

    def is_blocked(self, node_id: str) -> bool:
        """Whether the node is blocked (by id)."""
        return node_id in self._blocked

    def blocked(self, node_ids: Sequence[str]) -> None:
        """New blocks are committed: forget how to dial them, tell the siblings, close their connections."""
        self._blocked.update(node_ids)
        for node_id in node_ids:
            self._addresses.pop(node_id, None)
            self._peer_blocked(node_id)
            self._close_peer(node_id, CloseCode.BLOCKED, b"blocked")

    def unblock(self, node_id: str) -> None:
        """A lifted block is committed: the peer may be contacted again."""
        self._blocked.discard(node_id)

    def forget(self, node_id: str) -> None:
        """A peer's deletion is committed: close its connections and drop what we kept about it."""
        self._addresses.pop(node_id, None)
        self._peer_forgotten(node_id)
        self._close_peer(node_id, CloseCode.NORMAL, b"forgotten")

    # --- addresses

    async def address_of(self, node_id: str) -> PeerAddress | None:
        """How to dial a peer; None when it is blocked, ourselves, or unknown without any address."""
        if node_id in self._blocked or node_id == self._own.node_id:
            return None
        known = self._addresses.get(node_id)
        if known is not None:
            return known
        async with self._db.transaction() as session:
            peer = await repo.get_peer(session, node_id)
        if peer is None:
            return None
        address = PeerAddress(node_id, tuple(str(a) for a in peer.addresses), peer.relay_url)
        if not address.direct_addresses and not (address.relay_url or self._relay):
            return None
        self._addresses[node_id] = address
        return address

    def _remember_address(self, node_id: str, addresses: Sequence[str]) -> None:
        if addresses:
            self._addresses[node_id] = PeerAddress(node_id, tuple(addresses))

    def hinted(self, hints: dict[str, list[str]]) -> None:
        """Addresses learned from a peer list for new peers (a hint never replaces what we know of a peer)."""
        for node_id, addresses in hints.items():
            if addresses:
                self._addresses.setdefault(node_id, PeerAddress(node_id, tuple(addresses)))

    async def add(self, address: PeerAddress, *, source: str = "manual") -> bool:
        """Register a peer we were told about (seed, admin, LAN) so it can be dialled; False for ourselves or a
        blocked node."""
        if address.node_id == self._own.node_id or address.node_id in self._blocked:
            return False
        async with self._db.transaction() as session:
            dialled_at = await repo.remember_peer(
                session,
                address.node_id,
                source=source,
                addresses=address.direct_addresses,
                keep=self._policy.limits.max_addresses_per_peer,
            )
        self._addresses.pop(address.node_id, None)
        self._remember_address(address.node_id, dialled_at)
        return True

    # --- presence

    async def admit(self, node_id: str) -> bool:
        """Whether an incoming connection from ``node_id`` is accepted; accepted peers are registered online."""
        if node_id in self._blocked or node_id == self._own.node_id:
            return False
        return await self._touch(node_id)

    async def seen_on(self, node_id: str, addresses: Sequence[str]) -> None:
        """A peer talked to us from these addresses (kept so it can be dialled later)."""
        if node_id in self._blocked:
            return
        valid = [a for a in (direct_address(x) for x in addresses) if a is not None]
        if await self._touch(node_id, addresses=valid):
            self._remember_address(node_id, valid)

    async def connection_lost(self, node_id: str) -> None:
        """Our connection to a peer ended without us closing it: offline until it answers again."""
        async with self._db.transaction() as session:
            await repo.mark_offline(session, [node_id])

    async def record_pong(self, node_id: str, pong: wire.Pong) -> None:
        """A peer answered (or sent a heartbeat): it is online, with this track count and version."""
        if node_id in self._blocked:
            return
        await self._touch(node_id, pong=(min(pong.track_count, MAX_TRACK_COUNT), pong.version))

    async def _touch(
        self, node_id: str, *, addresses: Sequence[str] = (), pong: tuple[int, str | None] | None = None
    ) -> bool:
        """Record a peer online (a known source is kept); False when it was blocked while we wrote that.

        A block committed while our write was under way may have marked the peer offline before our write: it is
        marked offline again. (When our write came after the block's update of the row, it waited for the block's
        commit, whose ``on_commit`` has updated the blocked set by the time our commit returns; when it came
        before, the block's update saw it.)
        """
        async with self._db.transaction() as session:
            await repo.touch_peer(session, node_id, source="inbound", addresses=addresses, pong=pong)
        if node_id not in self._blocked:
            return True
        async with self._db.transaction() as session:
            await repo.mark_offline(session, [node_id])
        return False

    async def record_failure(self, node_id: str) -> None:
        """A contact attempt failed: offline, and the next attempt waits (exponential back-off with jitter)."""
        timings = self._policy.timings
        async with self._db.transaction() as session:
            peer = await repo.get_peer(session, node_id)
            if peer is None:
                return
            delay = retry_delay(
                peer.failure_count, base=timings.backoff_base, cap=timings.backoff_max, jitter=self._rng.random()
            )
            await repo.record_failure(session, node_id, self._clock() + timedelta(seconds=delay))

    # --- requests peers send

    async def answer_ping(self, conn: PeerConnection, stream: Stream, _: wire.Ping) -> None:
        """Ping: our Pong; the peer is online at the addresses it came from, and our catalog is pushed to it."""
        await stream.write(wire.encode_frame(self._own.pong()), timeout=self._policy.timings.request_timeout)
        await self.seen_on(conn.node_id, conn.remote_addresses())
        self._pinged(conn.node_id)

    async def heartbeat(self, conn: PeerConnection, _: Stream, message: wire.Pong) -> None:
        """An unsolicited Pong is a heartbeat of ours (SoundTime ignores them): it keeps the peer's counts fresh.

        Recorded when something changed, else once per ``heartbeat_record_interval`` (heartbeats come every 5 s).
        """
        if message.node_id != conn.node_id:
            return
        now = time.monotonic()
        last = self._heartbeats.get(conn.node_id)
        if last is not None and last[0] == message and now - last[1] < self._policy.timings.heartbeat_record_interval:
            return
        self._heartbeats[conn.node_id] = (message, now)
        self._heartbeats.move_to_end(conn.node_id)
        if len(self._heartbeats) > self._policy.limits.max_remembered_heartbeats:
            self._heartbeats.popitem(last=False)
        await self.record_pong(conn.node_id, message)
