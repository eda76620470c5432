"""Remote playback: a replicated track streams from a peer while it arrives, verified, shared, cached, bounded."""

from __future__ import annotations

import asyncio
import os
import struct
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from blake3 import blake3
from sqlalchemy import select

from soundtime.models import Track, TrackHealth, track_sources
from soundtime.p2p import wire
from soundtime.p2p.transport import PeerAddress, Stream
from tests.p2p.conftest import Instance, Node, StartInstance, eventually
from tests.support.api import error_code
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.files import temp_entries
from tests.support.live_server import live_server
from tests.support.soundtime_peer import FakeSoundTime, announcement

MB = 1 << 20


@dataclass
class BlobPeer(FakeSoundTime):
    """A SoundTime-like peer whose blob transfers can be paced or cut short."""

    #: Send only this many bytes of a blob, then end the stream (the peer "stops mid-stream"). The stream ends
    #: with a FIN, not a reset: QUIC may deliver a reset before the bytes written ahead of it, so a reset makes
    #: the listener see anything from a refused play (503) to the whole prefix, at random.
    cut_after: dict[str, int] = field(default_factory=dict)
    #: Pause this long after every 64 KiB sent.
    pace: float = 0.0

    async def send_blob(self, stream: Stream, digest: str) -> None:
        data = self.forged.get(digest) or self.blobs.get(digest, b"")
        await stream.write(struct.pack(">I", len(data)), timeout=10)
        limit = self.cut_after.get(digest, len(data))
        for start in range(0, limit, 64 * 1024):
            await stream.write(data[start : min(start + 64 * 1024, limit)], timeout=10)
            if self.pace:
                await asyncio.sleep(self.pace)
        # returning ends the stream with a FIN once the node has acknowledged every byte written

    def offer(self, data: bytes, index: int, **overrides: Any) -> str:
        """Put a blob in the catalog (announced with this peer as origin); returns its hash."""
        digest = blake3(data).hexdigest()
        self.blobs[digest] = data
        self.catalog.append(announcement(self.node_id, index, hash=digest, file_size=len(data), **overrides))
        return digest

    def fetches(self, digest: str) -> int:
        asked = (r.message for r in self.of_type(wire.FetchTrack))
        return sum(1 for message in asked if isinstance(message, wire.FetchTrack) and message.hash == digest)


async def started_peer(**settings: Any) -> BlobPeer:
    peer = await BlobPeer.start()
    for key, value in settings.items():
        setattr(peer, key, value)
    return peer


async def track_id(instance: Node, digest: str) -> uuid.UUID:
    """The id of the track with this hash on ``instance`` once it has replicated it."""

    async def lookup() -> uuid.UUID | None:
        async with instance.context.db.transaction() as session:
            found: uuid.UUID | None = await session.scalar(select(Track.id).where(Track.content_hash == digest))
            return found

    found: uuid.UUID = await eventually(lookup)
    return found


async def health_of(instance: Node, track: uuid.UUID) -> tuple[str, int] | None:
    async with instance.context.db.transaction() as session:
        row = await session.get(TrackHealth, track)
        return None if row is None else (row.state, row.consecutive_failures)


async def sources(instance: Node, track: uuid.UUID) -> dict[str, int]:
    async with instance.context.db.transaction() as session:
        rows = await session.execute(
            select(track_sources.c.node_id, track_sources.c.failure_count).where(track_sources.c.track_id == track)
        )
        return {str(node_id): int(failures) for node_id, failures in rows.all()}


def cache_files(instance: Node) -> dict[str, int]:
    """Blobs on disk in the instance's audio cache, with their sizes."""
    store = instance.context.cache.store
    return {digest: os.stat(store.path_for(digest)).st_size for digest in store.iter_digests()}


def temp_files(instance: Instance) -> list[str]:
    return temp_entries(instance.context.cache.store.temp_dir)


async def stream(instance: Instance, track: uuid.UUID, **headers: str) -> httpx.Response:
    return await instance.client.get(f"/api/tracks/{track}/stream", headers={**instance.headers, **headers})


async def b_with(start_instance: StartInstance, *peers: FakeSoundTime, **settings: Any) -> Instance:
    seeds = ",".join(peer.dial_address() for peer in peers)
    b: Instance = await start_instance("b", P2P_SEED_PEERS=seeds, **settings)
    return b


async def test_a_replicated_track_streams_from_its_peer_and_is_cached(
    start_instance: StartInstance,
) -> None:
    peer = await started_peer()
    data = os.urandom(3 * MB + 12345)
    digest = peer.offer(data, 1)
    other = peer.offer(os.urandom(200_000), 2)
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        head = await b.client.head(f"/api/tracks/{track}/stream", headers=b.headers)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
        assert peer.fetches(digest) == 0  # a HEAD fetches nothing

        ranged = await stream(b, await track_id(b, other), Range="bytes=1000-1999")
        assert ranged.status_code == 206
        assert ranged.headers["content-range"] == "bytes 1000-1999/200000"
        assert ranged.content == peer.blobs[other][1000:2000]
        suffix = await stream(b, await track_id(b, other), Range="bytes=-100")
        assert suffix.content == peer.blobs[other][-100:]
        past_end = await stream(b, track, Range="bytes=99999999-")
        assert past_end.status_code == 416

        whole = await stream(b, track)
        assert whole.status_code == 200
        assert whole.headers["content-type"] == "audio/flac"
        assert whole.headers["etag"] == f'"{digest}"'
        assert whole.content == data
        assert cache_files(b)[digest] == len(data)
        assert await health_of(b, track) in (None, ("healthy", 0))
    finally:
        await peer.close()
    again = await stream(b, track, Range="bytes=10-19")  # the peer is gone: served from the cache
    assert again.status_code == 206
    assert again.content == data[10:20]
    assert peer.fetches(digest) == 1


async def test_a_track_held_by_an_instance_streams_byte_identical(
    start_instance: StartInstance, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a")
    path = audio.make(tmp_path / "song.flac", "flac", TrackSpec(title="Far Away", duration=3.0))
    with path.open("rb") as handle:
        uploaded = await a.client.post(
            "/api/upload", files={"file": ("song.flac", handle, "audio/flac")}, headers=a.headers
        )
    assert uploaded.status_code == 201, uploaded.text
    b: Instance = await start_instance("b", P2P_SEED_PEERS=a.dial_address())
    data = path.read_bytes()
    track = await track_id(b, blake3(data).hexdigest())
    middle = await stream(b, track, Range="bytes=100-4099")
    assert middle.status_code == 206
    assert middle.content == data[100:4100]
    whole = await stream(b, track)
    assert whole.content == data


async def test_concurrent_listeners_share_one_transfer(start_instance: StartInstance) -> None:
    peer = await started_peer(pace=0.002)
    data = os.urandom(2 * MB)
    digest = peer.offer(data, 1)
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        whole, tail, middle = await asyncio.gather(
            stream(b, track), stream(b, track, Range="bytes=-1000"), stream(b, track, Range="bytes=5000-5999")
        )
        assert whole.content == data
        assert tail.content == data[-1000:]
        assert middle.content == data[5000:6000]
        assert peer.fetches(digest) == 1
    finally:
        await peer.close()


async def test_a_source_stopping_mid_stream_aborts_the_response_and_another_takes_over(
    start_instance: StartInstance, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(2 * MB)
    failing = await started_peer()
    digest = failing.offer(data, 1)
    failing.cut_after[digest] = MB
    try:
        b = await b_with(start_instance, failing)
        track = await track_id(b, digest)
        async with live_server(b.app) as url, httpx.AsyncClient(base_url=url) as http:
            received = bytearray()
            try:
                async with http.stream("GET", f"/api/tracks/{track}/stream", headers=b.headers) as response:
                    assert response.status_code == 200
                    assert response.headers["content-length"] == str(len(data))
                    async for chunk in response.aiter_raw():
                        received += chunk
                raised = False
            except httpx.HTTPError:
                raised = True
        assert raised, "the listener must see that the body is incomplete"
        assert len(received) < len(data)
        assert bytes(received) == data[: len(received)]
        await failing.close()  # and the source goes away
        unhandled = [r.getMessage() for r in caplog.records if r.name == "soundtime.kit.errors"]
        assert unhandled == [], "an aborted response is not an application error"
        assert await eventually(lambda: health_of(b, track)) == ("degraded", 1)
        assert digest not in cache_files(b)
        assert (await sources(b, track))[failing.node_id] == 1

        helper = await started_peer()
        helper.offer(data, 1)  # the same track, announced by another peer
        try:
            await b.node.peers.add(_address(helper))
            await b.node.contacts.contact(helper.node_id)
            await eventually(lambda: _has_source(b, track, helper.node_id))
            replay = await stream(b, track)
            assert replay.content == data
            assert helper.fetches(digest) == 1
            assert await health_of(b, track) == ("recovered", 0)
            assert cache_files(b)[digest] == len(data)
        finally:
            await helper.close()
    finally:
        await failing.close()
    assert await eventually(lambda: _no_temp_files(b))


async def test_three_failed_plays_dereference_a_track_which_then_answers_410(start_instance: StartInstance) -> None:
    peer = await started_peer()
    digest = peer.offer(os.urandom(50_000), 1)
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        del peer.blobs[digest]  # the peer no longer has it: a zero-length reply
        for strike in (1, 2, 3):
            failed = await stream(b, track)
            assert failed.status_code == 503
            assert error_code(failed) == "peer_unavailable"
            assert (await health_of(b, track) or ("", 0))[1] == strike
        assert await health_of(b, track) == ("dereferenced", 3)
        gone = await stream(b, track)
        assert gone.status_code == 410
        assert error_code(gone) == "dereferenced"
        assert peer.fetches(digest) >= 3
    finally:
        await peer.close()


async def test_a_peer_serving_wrong_bytes_is_caught_and_dropped_as_a_source(start_instance: StartInstance) -> None:
    peer = await started_peer()
    data = os.urandom(400_000)
    digest = peer.offer(data, 1)
    peer.forged[digest] = os.urandom(len(data))
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        with_error = None
        try:
            await stream(b, track)
        except Exception as exc:  # the in-process client surfaces the aborted response as the app's error
            with_error = exc
        assert with_error is not None
        assert await eventually(lambda: health_of(b, track)) == ("degraded", 1)
        assert peer.node_id not in await sources(b, track)
        assert digest not in cache_files(b)
    finally:
        await peer.close()


async def test_the_cache_evicts_the_least_recently_played_and_frees_the_disk(start_instance: StartInstance) -> None:
    peer = await started_peer()
    blobs = [os.urandom(700_000 + i) for i in range(3)]
    digests = [peer.offer(data, i) for i, data in enumerate(blobs)]
    big = peer.offer(os.urandom(2 * MB), 9)
    try:
        b = await b_with(start_instance, peer, P2P_CACHE_MAX_SIZE="1600000")
        tracks = [await track_id(b, digest) for digest in digests]
        for index in (0, 1, 0, 2):  # the second track is now the least recently played
            assert (await stream(b, tracks[index])).content == blobs[index]
        on_disk = cache_files(b)
        assert set(on_disk) == {digests[0], digests[2]}
        assert sum(on_disk.values()) <= 1_600_000
        assert b.context.cache.total_size == sum(on_disk.values())

        too_big = await stream(b, await track_id(b, big))  # larger than the whole cache: played, not kept
        assert too_big.content == peer.blobs[big]
        assert big not in cache_files(b)
        assert set(cache_files(b)) == {digests[0], digests[2]}
    finally:
        await peer.close()


async def test_verified_cached_audio_is_served_to_other_peers_unless_disabled(start_instance: StartInstance) -> None:
    origin = await started_peer()
    data = os.urandom(300_000)
    digest = origin.offer(data, 1)
    asker = await FakeSoundTime.start()
    try:
        b = await b_with(start_instance, origin)
        address = PeerAddress(b.node_id, tuple(f"127.0.0.1:{p}" for p in b.node.transport.bound_ports()[:1]))
        fetch = wire.encode_frame(wire.FetchTrack(hash=digest))
        assert await asker.call(address, fetch) == struct.pack(">I", 0)  # not cached yet: nothing to serve
        assert (await stream(b, await track_id(b, digest))).content == data
        assert await asker.call(address, fetch) == struct.pack(">I", len(data)) + data
        b.node.policy.serve_cache = False
        assert await asker.call(address, fetch) == struct.pack(">I", 0)
    finally:
        await asker.close()
        await origin.close()


async def test_remote_tracks_answer_503_when_federation_is_off(start_instance: StartInstance) -> None:
    peer = await started_peer()
    digest = peer.offer(os.urandom(10_000), 1)
    try:
        b = await b_with(start_instance, peer, keep_data=True)
        track = await track_id(b, digest)
    finally:
        await peer.close()
    await start_instance.stop("b")  # type: ignore[attr-defined]
    b = await start_instance("b", P2P_ENABLED=False)
    off = await stream(b, track)
    assert off.status_code == 503
    assert error_code(off) == "p2p_disabled"


def _address(peer: FakeSoundTime) -> PeerAddress:
    return PeerAddress(peer.node_id, (f"127.0.0.1:{peer.transport.bound_ports()[0]}",))


async def _has_source(instance: Instance, track: uuid.UUID, node_id: str) -> bool:
    return node_id in await sources(instance, track)


async def _no_temp_files(instance: Instance) -> bool:
    return not temp_files(instance)


async def test_plays_beyond_the_transfer_limit_are_refused_without_a_strike(
    start_instance: StartInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = await started_peer()
    digest = peer.offer(os.urandom(10_000), 1)
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        b.node.policy.limits = replace(b.node.policy.limits, max_transfers=0)
        busy = await stream(b, track)
        assert busy.status_code == 503
        assert error_code(busy) == "busy"
        assert await health_of(b, track) is None
        assert peer.fetches(digest) == 0
    finally:
        await peer.close()


async def test_a_source_that_always_breaks_off_gets_the_track_dereferenced(start_instance: StartInstance) -> None:
    peer = await started_peer()
    data = os.urandom(MB)
    digest = peer.offer(data, 1)
    peer.cut_after[digest] = 300_000
    try:
        b = await b_with(start_instance, peer)
        track = await track_id(b, digest)
        for strike in (1, 2, 3):
            with pytest.raises(Exception, match="stopped sending"):
                await stream(b, track)
            # the recovery after each failed play does not ask the peer that just failed it again
            assert await eventually(lambda: health_of(b, track)) == (
                ("degraded", strike) if strike < 3 else ("dereferenced", 3)
            )
        assert (await stream(b, track)).status_code == 410
    finally:
        await peer.close()
