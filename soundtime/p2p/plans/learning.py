"""What a peer's list (PeerExchange, spec §6) may teach us: valid, unblocked ids and their address hints, and
which of them are registered as new peers."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from soundtime.p2p import wire
from soundtime.p2p.policy import Limits
from soundtime.p2p.transport.addresses import node_id_or_none
from soundtime.p2p.validation import direct_address


@dataclass(frozen=True)
class PeerList:
    """A peer's list as we take it: ids in its order (the graph links) and the valid direct addresses of each."""

    ids: list[str]
    hints: dict[str, list[str]]


def read_peer_list(
    message: wire.PeerExchange, *, sender: str, own_id: str, is_blocked: Callable[[str], bool], limits: Limits
) -> PeerList:
    """The ids of ``message`` worth knowing: at most ``max_exchange_ids`` read, valid Ed25519 keys only, never
    ourselves, the sender or a blocked node; at most ``max_hints_per_id`` addresses read per id, valid ones kept."""
    ids: list[str] = []
    for raw in dict.fromkeys(message.peers[: limits.max_exchange_ids]):
        node_id = node_id_or_none(raw) if len(raw) == 64 else None
        if node_id is not None and node_id not in (own_id, sender) and not is_blocked(node_id):
            ids.append(node_id)
    ids = list(dict.fromkeys(ids))
    hints: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for raw_id, raw_addresses in (message.addresses or {}).items():
        node_id = raw_id.lower()
        if node_id in hints:
            valid = (direct_address(a) for a in raw_addresses[: limits.max_hints_per_id])
            hints[node_id] = [a for a in valid if a is not None]
    return PeerList(ids, hints)


def choose_new(ids: Sequence[str], known: Collection[str], peer_count: int, limits: Limits) -> list[str]:
    """The unknown ids to register: at most ``new_ids_per_list``, and none once the registry holds
    ``max_learned_peers``."""
    room = min(limits.max_learned_peers - peer_count, limits.new_ids_per_list)
    return [node_id for node_id in ids if node_id not in known][: max(room, 0)]
