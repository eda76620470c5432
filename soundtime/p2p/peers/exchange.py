"""Peer exchange (spec §6): the list we give (known, unblocked peers and ourselves, with address hints) and what
we take from the lists peers give us (bounded, rate limited, never a blocked node)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

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
        limits = self._policy.limits
        async with self._db.transaction() as session:
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
        """A peer's PeerExchange: our list in reply, then learn from theirs."""
        reply = await self.message()
        await stream.write(wire.encode_frame(reply), timeout=self._policy.timings.request_timeout)
        await self.learn(conn.node_id, message)

    async def learn(self, sender: str, message: wire.PeerExchange) -> None:
        """Record a peer's list (graph links) and register the new, unblocked ids; then contact the new ones."""
        if self._learn_limiter.hit(sender) > 0:
            log.info("ignoring a peer list from %s: too many lists in a minute", sender[:16])
            return
        limits = self._policy.limits
        listed = read_peer_list(
            message, sender=sender, own_id=self._own.node_id, is_blocked=self._blocklist.is_blocked, limits=limits
        )
        async with self._db.transaction() as session:
            known = await repo.existing_peer_ids(session, listed.ids)
            new = choose_new(listed.ids, known, await repo.peer_count(session), limits)
            await repo.add_learned_peers(session, {node_id: listed.hints[node_id] for node_id in [*known, *new]})
            await repo.replace_links(session, sender, listed.ids)
        self._hinted({node_id: listed.hints[node_id] for node_id in new})
        for node_id in new[: limits.redials_per_round]:
            self._contact(node_id, "learned")
