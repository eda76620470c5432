"""Peer addresses: node ids, ``ip:port`` socket addresses and iroh endpoint tickets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from soundtime.p2p.ids import is_node_id
from soundtime.p2p.transport._iroh import _message, ffi


@dataclass(frozen=True)
class PeerAddress:
    """How to dial a node: its id plus direct ``ip:port`` addresses and, with relays on, a relay URL."""

    node_id: str
    direct_addresses: tuple[str, ...] = ()
    relay_url: str | None = None


_BRACKETED = re.compile(r"\[(?P<host>[^\]]+)\]:(?P<port>[0-9]+)")


def normalize_node_id(text: str) -> str:
    """Lower-case a node id and check it is a valid Ed25519 public key; ValueError otherwise."""
    node_id = text.strip().lower()
    if not is_node_id(node_id):
        raise ValueError(f"a node id is 64 hexadecimal characters, got {text!r}")
    try:
        ffi.EndpointId.from_string(node_id)
    except ffi.IrohError:
        raise ValueError(f"{node_id} is not a valid Ed25519 public key") from None
    return node_id


def node_id_or_none(text: str) -> str | None:
    """``text`` as a node id (see :func:`normalize_node_id`), None when it is not one."""
    try:
        return normalize_node_id(text)
    except ValueError:
        return None


def parse_socket_address(text: str) -> str:
    """Validate ``ip:port`` / ``[ipv6]:port`` and return it in canonical form; ValueError otherwise."""
    bracketed = _BRACKETED.fullmatch(text)
    if bracketed is not None:
        host, port_text, version = bracketed["host"], bracketed["port"], 6
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"expected ip:port or [ipv6]:port, got {text!r}")
        version = 4
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address (host names are not accepted)") from None
    if ip.version != version:
        raise ValueError("only IPv6 addresses go in brackets" if version == 6 else "IPv6 addresses need brackets")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"the port in {text!r} must be a number from 1 to 65535")
    return f"[{ip}]:{int(port_text)}" if ip.version == 6 else f"{ip}:{int(port_text)}"


def parse_peer_address(text: str) -> PeerAddress:
    """Parse a node id, ``id@ip:port`` (``id@[ipv6]:port``) or an iroh endpoint ticket."""
    text = text.strip()
    if text.startswith("endpoint"):
        return _parse_ticket(text)
    node_part, at, address_part = text.partition("@")
    node_id = normalize_node_id(node_part)
    if not at:
        return PeerAddress(node_id)
    return PeerAddress(node_id, (parse_socket_address(address_part),))


def _parse_ticket(text: str) -> PeerAddress:
    try:
        addr = ffi.EndpointTicket.from_string(text).endpoint_addr()
    except ffi.IrohError as exc:
        raise ValueError(f"invalid endpoint ticket: {_message(exc)}") from None
    return PeerAddress(str(addr.id()), tuple(addr.direct_addresses()), addr.relay_url())


def node_id_of_secret(secret_key: bytes) -> str:
    """The node id (public key, 64 hex) of a 32-byte secret key."""
    return str(ffi.SecretKey.from_bytes(secret_key).public())


def ticket_of(address: PeerAddress) -> str:
    """An iroh endpoint ticket carrying ``address``."""
    return str(ffi.EndpointTicket.from_addr(_endpoint_addr(address)))


def _endpoint_addr(address: PeerAddress) -> ffi.EndpointAddr:
    node = ffi.EndpointId.from_string(address.node_id)
    return ffi.EndpointAddr(node, address.relay_url, list(address.direct_addresses))
