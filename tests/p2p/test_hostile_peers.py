"""Hostile peers against a live node (real iroh endpoints on loopback): raw peers send what a well-behaved node
never would, while a well-behaved peer keeps asking the node all along and must be served every time."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from sqlalchemy import func, select, text

from soundtime.models import Peer, Track
from soundtime.p2p import wire
from soundtime.p2p.transport import (
    CloseCode,
    ConnectionClosed,
    PeerAddress,
    StreamCode,
    StreamError,
    StreamTimeout,
    TransportError,
)
from tests.p2p.conftest import Instance, StartInstance, eventually
from tests.p2p.test_scenarios import _add_own_tracks
from tests.support.soundtime_peer import FakeSoundTime, announcement

pytestmark = pytest.mark.timeout(90)

#: Seconds the node waits for a request frame in these tests (30 by default). Short, so that never-finished frames
#: resolve quickly, but not so short that the well-behaved peer's Ping times out on a starved machine (1 s did,
#: once, at a load of 7 on 2 cores).
REQUEST_TIMEOUT = 2.0
#: The well-behaved peer's Ping must be answered within this (generous: the attack shares this process and CPU).
ANSWER_WITHIN = 20.0


@dataclass
class Watch:
    """What the well-behaved peer got while an attack ran."""

    answered: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class Arena:
    """A live node, a well-behaved peer that knows it, and a way to start raw attackers."""

    node: Instance
    honest: FakeSoundTime
    attackers: list[FakeSoundTime] = field(default_factory=list)

    @property
    def target(self) -> PeerAddress:
        port = self.node.node.transport.bound_ports()[0]
        return PeerAddress(self.node.node_id, (f"127.0.0.1:{port}",))

    async def attacker(self) -> FakeSoundTime:
        peer = await FakeSoundTime.start()
        self.attackers.append(peer)
        return peer

    async def ping(self, peer: FakeSoundTime) -> wire.Pong:
        reply = wire.decode_frame(await peer.call(self.target, wire.encode_frame(wire.Ping())))
        assert isinstance(reply, wire.Pong)
        assert reply.node_id == self.node.node_id
        return reply

    @asynccontextmanager
    async def served_throughout(self, *, at_least: int = 3) -> AsyncIterator[Watch]:
        """The well-behaved peer pings the node every 50 ms while the block runs; every Ping must be answered."""
        watch, stop = Watch(), asyncio.Event()

        async def keep_asking() -> None:
            while not stop.is_set() or watch.answered < at_least:
                try:
                    async with asyncio.timeout(ANSWER_WITHIN):
                        await self.ping(self.honest)
                    watch.answered += 1
                except (TransportError, TimeoutError, AssertionError) as exc:
                    watch.failures.append(repr(exc))
                await asyncio.sleep(0.05)

        task = asyncio.get_running_loop().create_task(keep_asking())
        try:
            yield watch
        finally:
            stop.set()
            await task
        assert watch.failures == []
        assert watch.answered >= at_least


@pytest.fixture
async def arena(start_instance: StartInstance) -> AsyncIterator[Arena]:
    node: Instance = await start_instance("b")
    node.node.policy.timings = replace(node.node.policy.timings, request_timeout=REQUEST_TIMEOUT)
    honest = await FakeSoundTime.start()
    place = Arena(node, honest)
    try:
        await place.ping(honest)
        yield place
    finally:
        for peer in [honest, *place.attackers]:
            await peer.close()


async def _raw(arena: Arena, peer: FakeSoundTime, data: bytes, *, finish: bool = True) -> Any:
    """Write raw bytes on a new stream to the node; the node's answer (bytes) or the transport error it caused."""
    connection = await peer.transport.connect(arena.target, timeout=10)
    stream = await connection.open_stream(timeout=10)
    try:
        await stream.write(data, timeout=10)
        if finish:
            await stream.finish(ack_timeout=None)
        return await stream.read_to_end(64 << 20, timeout=REQUEST_TIMEOUT + 5)
    except TransportError as exc:
        return exc


async def _count(instance: Instance, stmt: Any) -> int:
    async with instance.context.db.transaction() as session:
        return int((await session.execute(stmt)).scalar_one())


def _reset_by_node(answer: Any) -> int | None:
    """The code the node reset a stream with (None for anything else: an answer, our own timeout, a close)."""
    if isinstance(answer, StreamError) and not isinstance(answer, StreamTimeout | ConnectionClosed):
        return answer.code
    return None


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


# --- frames and streams --------------------------------------------------------------------------------------------


BAD = StreamCode.PROTOCOL_ERROR
NESTED = b'{"PeerExchange": {"peers": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
U64_PAST = b'{"Pong": {"node_id": "x", "track_count": 1' + b"0" * 20 + b', "version": ""}}'
U32_PAST = b'{"SearchQuery": {"request_id": "r", "query": "q", "limit": 4294967296}}'


@pytest.mark.parametrize(
    ("attack", "data", "finish", "code"),
    [
        ("oversize frame", struct.pack(">I", wire.MAX_FRAME_SIZE + 1) + b"{}", True, StreamCode.TOO_LARGE),
        ("length of 4 GiB", b"\xff\xff\xff\xff" + b"x" * 100, True, StreamCode.TOO_LARGE),
        ("truncated frame", struct.pack(">I", 100) + b'{"Ping"', True, BAD),
        ("truncated length", b"\x00\x00", True, BAD),
        ("frame never finished", struct.pack(">I", 100) + b'{"Pong": {', False, StreamCode.TIMEOUT),
        ("invalid JSON", _frame(b'{"Ping": nope'), True, BAD),
        ("not UTF-8", _frame(b'{"Ping\xff": null}'), True, BAD),
        ("unknown variant", _frame(b'{"StealEverything": {"all": true}}'), True, BAD),
        ("two variants in one", _frame(b'{"Ping": null, "RequestCatalog": null}'), True, BAD),
        ("deep nesting", _frame(NESTED), True, BAD),
        ("u64 past its end", _frame(U64_PAST), True, BAD),
        ("u32 past its end", _frame(U32_PAST), True, BAD),
    ],
)
async def test_a_bad_request_ends_its_stream_only(
    arena: Arena, attack: str, data: bytes, finish: bool, code: StreamCode
) -> None:
    attacker = await arena.attacker()
    async with arena.served_throughout():
        answer = await _raw(arena, attacker, data, finish=finish)
    assert _reset_by_node(answer) == code, f"{attack}: the node answered {answer!r}"
    # the attacker's own connection still works for a good request
    await arena.ping(attacker)


async def test_a_peer_that_keeps_sending_garbage_is_disconnected(arena: Arena) -> None:
    attacker = await arena.attacker()
    connection = await attacker.transport.connect(arena.target, timeout=10)
    offences = arena.node.node.policy.limits.offences_per_minute
    async with arena.served_throughout():
        for _ in range(offences + 1):
            answer = await _raw(arena, attacker, _frame(b"garbage"))
            closed_now = isinstance(answer, ConnectionClosed) and answer.code == CloseCode.PROTOCOL_ERROR
            assert closed_now or _reset_by_node(answer) == StreamCode.PROTOCOL_ERROR, repr(answer)
        closed = await asyncio.wait_for(connection.wait_closed(), 10)
    assert isinstance(closed, ConnectionClosed)
    assert closed.code == CloseCode.PROTOCOL_ERROR


async def test_streams_left_open_are_dropped_and_cost_the_others_nothing(arena: Arena) -> None:
    attacker = await arena.attacker()
    connection = await attacker.transport.connect(arena.target, timeout=10)
    streams = []
    async with arena.served_throughout():
        for _ in range(40):  # each says a frame follows, then never sends it
            stream = await connection.open_stream(timeout=10)
            await stream.write(struct.pack(">I", 64), timeout=10)
            streams.append(stream)
        ends = await asyncio.gather(
            *(s.read_to_end(1024, timeout=REQUEST_TIMEOUT + 5) for s in streams), return_exceptions=True
        )
    # every one is given up by the node after its request timeout; a timed-out request counts as an offence, so
    # past the allowance the node closes the whole connection ("too many malformed frames"): nothing is left
    # hanging. The 40 time out together and the close discards resets still queued, so how many resets arrive
    # first varies from none (seen 1 run in 7 under load) to all but the last: only the close is certain.
    timed_out = [end for end in ends if _reset_by_node(end) == StreamCode.TIMEOUT]
    closed = [end for end in ends if isinstance(end, ConnectionClosed) and end.code == CloseCode.PROTOCOL_ERROR]
    assert len(timed_out) + len(closed) == len(streams), [repr(end) for end in ends]
    assert closed


async def test_a_peer_that_stops_reading_a_blob_is_cut_off_while_others_fetch_it(arena: Arena) -> None:
    data = os.urandom(8 << 20)  # beyond any stream window: the node's writes must wait for the reader
    ref = await asyncio.to_thread(arena.node.context.audio.put_bytes, data)
    await _add_own_track(arena.node, ref.digest, len(data))
    arena.node.node.policy.timings = replace(arena.node.node.policy.timings, send_stall_timeout=REQUEST_TIMEOUT)
    attacker = await arena.attacker()
    connection = await attacker.transport.connect(arena.target, timeout=10)
    stream = await connection.open_stream(timeout=10)
    await stream.write(wire.encode_frame(wire.FetchTrack(hash=ref.digest)), timeout=10)
    await stream.finish(ack_timeout=None)
    assert await stream.read_exact(4, timeout=10) == struct.pack(">I", len(data))
    async with arena.served_throughout():
        await asyncio.sleep(REQUEST_TIMEOUT * 3)  # the attacker reads nothing more: the node's writer stalls
        fetched = await arena.honest.call(arena.target, wire.encode_frame(wire.FetchTrack(hash=ref.digest)))
    assert fetched == struct.pack(">I", len(data)) + data
    rest: bytes | TransportError
    try:
        rest = await stream.read_to_end(16 << 20, timeout=10)
    except TransportError as exc:
        rest = exc
    assert _reset_by_node(rest) == StreamCode.TIMEOUT, repr(rest)[:200]


async def _add_own_track(instance: Instance, digest: str, size: int) -> None:
    async with instance.context.db.transaction() as session:
        await session.execute(_OWN_TRACK_SQL, {"hash": digest, "size": size})


_OWN_TRACK_SQL = text(
    """
    WITH artist AS (INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Harbour') RETURNING id)
    INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_path, file_size)
    SELECT gen_random_uuid(), 'Bell', (SELECT id FROM artist), 60.0, 'flac', :hash, 'x/bell', :size
    """
)


# --- what the messages say -----------------------------------------------------------------------------------------


async def test_tracks_announced_for_another_origin_or_with_impossible_sizes_are_not_stored(arena: Arena) -> None:
    attacker = await arena.attacker()
    spoofed = announcement(arena.honest.node_id, 1)  # claims the honest peer's track
    negative = announcement(attacker.node_id, 2, file_size=-5)
    bad_hash = announcement(attacker.node_id, 3, hash="Z" * 64)
    fine = announcement(attacker.node_id, 4)
    async with arena.served_throughout():
        for track in (spoofed, negative, bad_hash, fine):
            await attacker.call(arena.target, wire.encode_frame(wire.AnnounceTrack(track=track)), read_reply=False)
        assert await eventually(lambda: _hash_stored(arena.node, fine.hash))
    for track in (spoofed, negative, bad_hash):
        assert not await _hash_stored(arena.node, track.hash)
    assert await _count(arena.node, select(func.count()).select_from(Track)) == 1


async def test_a_heartbeat_in_another_nodes_name_changes_nothing(arena: Arena) -> None:
    attacker = await arena.attacker()
    await arena.ping(attacker)  # registered
    forged = wire.Pong(node_id=arena.honest.node_id, track_count=10**9, version="9.9.9")
    async with arena.served_throughout():
        await attacker.call(arena.target, wire.encode_frame(forged), read_reply=False)
        await asyncio.sleep(0.3)
    async with arena.node.context.db.transaction() as session:
        honest = await session.get(Peer, arena.honest.node_id)
    assert honest is not None
    assert honest.track_count != 10**9


async def test_a_peer_list_of_100000_ids_is_read_to_its_bound(arena: Arena) -> None:
    attacker = await arena.attacker()
    listed = [os.urandom(32).hex() for _ in range(100_000)]
    frame = wire.encode_frame(wire.PeerExchange(peers=listed))
    assert len(frame) < wire.MAX_FRAME_SIZE
    async with arena.served_throughout():
        reply = wire.decode_frame(await attacker.call(arena.target, frame))
    assert isinstance(reply, wire.PeerExchange)
    assert len(reply.peers) <= arena.node.node.policy.limits.max_exchange_ids
    registered = await _count(arena.node, select(func.count()).select_from(Peer))
    # the honest peer, the attacker, and at most one list's worth of new ids
    assert registered <= 2 + arena.node.node.policy.limits.new_ids_per_list


async def test_a_ping_flood_is_answered_or_refused_and_pushes_the_catalogue_once(arena: Arena) -> None:
    await _add_own_tracks(arena.node, 3)
    attacker = await arena.attacker()
    flood = 600
    async with arena.served_throughout():
        answers = await asyncio.gather(
            *(attacker.call(arena.target, wire.encode_frame(wire.Ping())) for _ in range(flood)),
            return_exceptions=True,
        )
        assert await eventually(lambda: _pages_to(attacker, at_least=1))
        await asyncio.sleep(1.0)  # room for any further push
    answered = sum(1 for a in answers if isinstance(a, bytes) and a)
    refused = sum(1 for a in answers if isinstance(a, TransportError))
    assert answered + refused == flood  # each is answered, or refused beyond the per-peer rate; nothing else
    assert answered > 0
    pushed = [r.message for r in attacker.received if isinstance(r.message, wire.CatalogSync | wire.CatalogDelta)]
    assert len(pushed) == 1
    assert len(pushed[0].tracks) == 3


async def test_a_malformed_search_filter_leaves_search_working(arena: Arena) -> None:
    attacker = await arena.attacker()
    await arena.ping(attacker)
    broken = wire.BloomFilterData(b"\xff" * 64, 10_000, 1 << 40, ((1, 2), (3, 4)), 1)  # absurd sizes
    async with arena.served_throughout():
        await attacker.send_bloom(arena.target, broken)
        await asyncio.sleep(0.3)
        found = await arena.node.client.get("/api/p2p/search", params={"q": "anything"}, headers=arena.node.headers)
    assert found.status_code == 200, found.text
    assert arena.node.search.filters.rejected == 1


async def test_many_identities_connecting_at_once_are_all_served(arena: Arena) -> None:
    crowd = await asyncio.gather(*(arena.attacker() for _ in range(24)))
    async with arena.served_throughout():
        pongs = await asyncio.gather(*(arena.ping(peer) for peer in crowd))
    assert {p.node_id for p in pongs} == {arena.node.node_id}
    registered = await _count(arena.node, select(func.count()).select_from(Peer))
    assert registered == 1 + len(crowd)


async def _hash_stored(instance: Instance, digest: str) -> bool:
    return await _count(instance, select(func.count()).select_from(Track).where(Track.content_hash == digest)) > 0


async def _pages_to(peer: FakeSoundTime, *, at_least: int) -> bool:
    kinds = (wire.CatalogSync, wire.CatalogDelta)
    return sum(1 for r in peer.received if isinstance(r.message, kinds)) >= at_least
