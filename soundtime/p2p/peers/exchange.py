"""Peer exchange (spec §6): the list we give (known, unblocked peers and ourselves, with address hints) and what
we take from the lists peers give us (bounded, rate limited, never a blocked node)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.kit.db import Database
from soundtime.kit.ratelimit import RateLimiter
from soundtime.p2p import repository as repo
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerMisbehaved
from soundtime.p2p.plans.learning import choose_new, read_peer_list
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import Blocklist, OwnNode, Requests
from soundtime.p2p.transport import PeerConnection, Stream

log = logging.getLogger(__name__)


class PeerExchange:
    """Our peer list and the learning from theirs."""

    def __init__(
        self,
        *,
        db: Database,
        own: OwnNode,
        policy: Policy,
        messenger: Requests,
        blocklist: Blocklist,
        hinted: Callable[[dict[str, list[str]]], None],
        own_addresses: Callable[[], Sequence[str]],
        contact: Callable[[str, str], None],
    ) -> None:
        self._db = db
        self._own = own
        self._policy = policy
        self._messenger = messenger
        self._blocklist = blocklist
        self._hinted = hinted
        self._own_addresses = own_addresses
        self._contact = contact
        self._learn_limiter = RateLimiter(self._policy.limits.learns_per_minute, 60.0)

    async def message(self) -> wire.PeerExchange:
        """Our PeerExchange: known, unblocked ids plus our own, with the direct addresses we know for them."""
        async with self._db.transaction() as session:
            return await self._message(session)

    async def _message(self, session: AsyncSession) -> wire.PeerExchange:
        limits = self._policy.limits
        peers = await repo.list_peers(session)
        ids = [p.node_id for p in peers if not self._blocklist.is_blocked(p.node_id)][: limits.max_exchange_ids - 1]
        listed = set(ids)
        hints = {
            p.node_id: [str(a) for a in p.addresses][: limits.max_hints_per_id]
            for p in peers
            if p.node_id in listed and p.addresses
        }
        own = self._own_addresses()
        if own:
            hints[self._own.node_id] = list(own[: limits.max_hints_per_id])
        return wire.PeerExchange(peers=[*ids, self._own.node_id], addresses=hints or None)

    async def exchange_with(self, node_id: str) -> None:
        """Exchange peer lists with a peer and learn from its answer."""
        reply = await self._messenger.request(node_id, await self.message())
        if not isinstance(reply, wire.PeerExchange):
            raise PeerMisbehaved(f"peer {node_id[:16]} answered PeerExchange with {type(reply).__name__}")
        await self.learn(node_id, reply)

    async def answer(self, conn: PeerConnection, stream: Stream, message: wire.PeerExchange) -> None:
        """A peer's PeerExchange: our list in reply (as it was before theirs), and what we learn from theirs; one
        transaction reads ours and records theirs."""
        async with self._db.transaction() as session:
            reply = await self._message(session)
            learned = await self._record(session, conn.node_id, message)
        await stream.write(wire.encode_frame(reply), timeout=self._policy.timings.request_timeout)
        self._contact_new(learned)

    async def learn(self, sender: str, message: wire.PeerExchange) -> None:
        """Record a peer's list (graph links) and register the new, unblocked ids; then contact the new ones."""
        async with self._db.transaction() as session:
            learned = await self._record(session, sender, message)
        self._contact_new(learned)

    async def _record(
        self, session: AsyncSession, sender: str, message: wire.PeerExchange
    ) -> dict[str, list[str]] | None:
        """Record a peer's list; the new ids with their address hints (None when the list was ignored)."""
        if self._learn_limiter.hit(sender) > 0:
            log.info("ignoring a peer list from %s: too many lists in a minute", sender[:16])
            return None
        limits = self._policy.limits
        listed = read_peer_list(
            message, sender=sender, own_id=self._own.node_id, is_blocked=self._blocklist.is_blocked, limits=limits
        )
        known = await repo.existing_peer_ids(session, listed.ids)
        new = choose_new(listed.ids, known, await repo.peer_count(session), limits)
        await repo.add_learned_peers(session, {node_id: listed.hints[node_id] for node_id in [*known, *new]})
        await repo.replace_links(session, sender, listed.ids)
        return {node_id: listed.hints[node_id] for node_id in new}

    def _contact_new(self, learned: dict[str, list[str]] | None) -> None:
        """Once recorded: remember the new ids' addresses and contact a few of them."""
        if not learned:
            return
        self._hinted(learned)
        for node_id in list(learned)[: self._policy.limits.redials_per_round]:
            self._contact(node_id, "learned")
