"""The messenger on the in-memory network, with no database and no iroh: protocol exchanges that take milliseconds.

A message lost on the way is sent again and arrives once; one lost for good fails after the configured attempts;
a peer lying about a blob's bytes (or its length) is caught and nothing is kept; a reply that is no message is the
peer's fault; a stopped node refuses every call.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from blake3 import blake3

from soundtime.blobs.store import BlobStore
from soundtime.p2p import wire
from soundtime.p2p.errors import BlobUnavailable, PeerMisbehaved, PeerUnavailable
from soundtime.p2p.messenger import PeerMessenger
from soundtime.p2p.policy import Policy, Timings
from soundtime.p2p.transport import (
    Callbacks,
    MemoryNetwork,
    MemoryTransport,
    PeerAddress,
    PeerConnection,
    Stream,
)

Serve = Callable[[PeerConnection, Stream], Awaitable[None]]

#: A lost message is sent again after 10 ms instead of half a second (the attempts are what the tests count).
QUICK_RETRIES = Timings(send_retry_delay=0.01)


async def _admit_all(_: str) -> bool:
    return True


async def _nothing(_: PeerConnection, __: Stream) -> None:
    return None


async def _pair(serve: Serve, *, policy: Policy | None = None) -> tuple[MemoryNetwork, PeerMessenger, MemoryTransport]:
    """Our messenger on a memory network, and a peer serving every stream with ``serve``."""
    network = MemoryNetwork()
    peer = await network.start(os.urandom(32), Callbacks(on_stream=serve, admit=_admit_all))
    ours = await network.start(os.urandom(32), Callbacks(on_stream=_nothing, admit=_admit_all))

    async def address_of(node_id: str) -> PeerAddress | None:
        return peer.address() if node_id == peer.node_id else None

    messenger = PeerMessenger(address_of, policy or Policy(timings=QUICK_RETRIES))
    messenger.attach(ours)
    return network, messenger, peer


def _blob_server(data: bytes, *, announced: int | None = None) -> Serve:
    """A peer answering FetchTrack with ``data`` after a length prefix of ``announced`` (default: its length)."""

    async def serve(_: PeerConnection, stream: Stream) -> None:
        message = wire.decode(await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=5))
        assert isinstance(message, wire.FetchTrack)
        size = len(data) if announced is None else announced
        await stream.write(struct.pack(">I", size) + data, timeout=5)

    return serve


async def test_a_message_lost_once_is_sent_again_and_arrives_once() -> None:
    received: list[wire.Message] = []

    async def serve(_: PeerConnection, stream: Stream) -> None:
        received.append(wire.decode(await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=5)))

    network, messenger, peer = await _pair(serve)
    attempts: list[bytes] = []

    def lose_the_first(_: str, receiver: str, first: bytes) -> bool:
        if receiver != peer.node_id or not first:
            return False
        attempts.append(first)
        return len(attempts) == 1

    network.lose(lose_the_first)
    await messenger.send(peer.node_id, wire.RequestCatalog())

    assert len(attempts) == 2
    assert received == [wire.RequestCatalog()]


async def test_a_message_lost_every_time_fails_after_the_configured_attempts() -> None:
    received: list[bytes] = []

    async def serve(_: PeerConnection, stream: Stream) -> None:
        received.append(await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=5))

    policy = Policy(timings=QUICK_RETRIES)
    policy.limits = replace(policy.limits, send_attempts=2)
    network, messenger, peer = await _pair(serve, policy=policy)
    attempts: list[bytes] = []

    def lose_every_one(_: str, receiver: str, first: bytes) -> bool:
        if receiver == peer.node_id and first:
            attempts.append(first)
            return True
        return False

    network.lose(lose_every_one)

    with pytest.raises(PeerUnavailable, match="sending to peer"):
        await messenger.send(peer.node_id, wire.RequestCatalog())
    assert len(attempts) == 2
    assert received == []


async def test_a_request_gets_the_peer_s_reply_and_a_reply_that_is_no_message_is_the_peer_s_fault() -> None:
    replies = [wire.encode_frame(wire.Pong(node_id="n", track_count=3, version="v")), struct.pack(">I", 2) + b"{}"]

    async def serve(_: PeerConnection, stream: Stream) -> None:
        wire.decode(await stream.read_frame(wire.MAX_FRAME_SIZE, timeout=5))
        await stream.write(replies.pop(0), timeout=5)

    _, messenger, peer = await _pair(serve)
    assert await messenger.request(peer.node_id, wire.Ping()) == wire.Pong(node_id="n", track_count=3, version="v")
    with pytest.raises(PeerMisbehaved, match="invalid reply"):
        await messenger.request(peer.node_id, wire.Ping())


async def test_a_blob_is_kept_only_when_its_bytes_match_the_hash(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    digest = blake3(data).hexdigest()
    store = BlobStore(tmp_path / "blobs")

    _, honest, peer = await _pair(_blob_server(data))
    ref = await honest.fetch_blob(peer.node_id, digest, store, max_size=1 << 20)
    assert ref.digest == digest
    assert store.exists(digest)

    other = os.urandom(300_000)
    lie = blake3(other).hexdigest()
    _, messenger, liar = await _pair(_blob_server(data))  # serves ``data`` when asked for ``other``'s hash
    with pytest.raises(PeerMisbehaved, match="do not match"):
        await messenger.fetch_blob(liar.node_id, lie, store, max_size=1 << 20)
    assert not store.exists(lie)


@pytest.mark.parametrize(
    ("announced", "sent", "error", "match"),
    [
        (1000, 999, PeerMisbehaved, "ended after 999 of 1000 bytes"),
        (1000, 1001, PeerMisbehaved, "more than 1000 bytes"),
        (0, 0, BlobUnavailable, "does not offer"),
        (2 << 20, 0, PeerMisbehaved, "announced 2097152 bytes"),
    ],
)
async def test_a_blob_of_another_length_than_announced_or_allowed_is_refused(
    tmp_path: Path, announced: int, sent: int, error: type[Exception], match: str
) -> None:
    data = os.urandom(sent)
    digest = blake3(os.urandom(8)).hexdigest()
    store = BlobStore(tmp_path / "blobs")
    _, messenger, peer = await _pair(_blob_server(data, announced=announced))

    with pytest.raises(error, match=match):
        await messenger.fetch_blob(peer.node_id, digest, store, max_size=1 << 20)
    assert not store.exists(digest)
    assert not list((tmp_path / "blobs").rglob("*.part"))  # no unfinished write left behind


async def test_a_stopped_node_refuses_every_call(tmp_path: Path) -> None:
    _, messenger, peer = await _pair(_blob_server(b"x"))
    messenger.detach()
    calls = [
        messenger.request(peer.node_id, wire.Ping()),
        messenger.send(peer.node_id, wire.RequestCatalog()),
        messenger.probe_blob(peer.node_id, "ab" * 32, max_size=10),
        messenger.fetch_blob(peer.node_id, "ab" * 32, BlobStore(tmp_path / "b"), max_size=10),
    ]
    for call in calls:
        with pytest.raises(PeerUnavailable, match="not running"):
            await call
