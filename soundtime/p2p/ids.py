"""The shape of a node id. No dependency: the configuration checks seed peers with it before iroh is loaded."""

from __future__ import annotations

import re

_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_node_id(text: str) -> bool:
    """Whether ``text`` has the shape of a node id: exactly 64 lower-case hexadecimal characters.

    The one node-id check of the package. Ids in bulk data (origins of announced tracks, sources of search hits,
    block lists, LAN announcements) and seed peers in the configuration are checked for their shape only;
    ``transport.normalize_node_id`` also checks that the id is an Ed25519 public key (~27 µs each) before we dial
    or register it.
    """
    return _HEX64.fullmatch(text) is not None
