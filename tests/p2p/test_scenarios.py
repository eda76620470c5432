"""Protocol scenarios between nodes on the in-memory network (real codec, handlers, services and databases; no
iroh, no web application): three nodes learning each other, a catalogue page lost on the way, a peer lying about a
hash. Each node is an instance without FastAPI (:func:`tests.p2p.conftest.start_node`): the scenarios call the
services the HTTP routes call, and read what a user would see in each node's database and stores."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from sqlalchemy import func, select, text

from soundtime.kit.errors import ServiceUnavailable
from soundtime.library.ingest import prepare_path, save_prepared
from soundtime.models import Peer, PeerLink, Track, track_sources
from soundtime.p2p import wire
from soundtime.p2p.face import DownloadFailed
from soundtime.p2p.library_sync import service as library_sync
from soundtime.p2p.policy import Limits, Timings
from soundtime.p2p.transport import MemoryNetwork
from soundtime.streaming.media import Media
from soundtime.streaming.remote import open_download
from soundtime.streaming.service import track_audio
from tests.p2p.conftest import Node, StartNode, eventually
from tests.p2p.test_playback import cache_files, health_of, sources, track_id
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.soundtime_peer import FakeSoundTime, announcement

#: The sender's catalogue pages hold 20 tracks instead of 500 (any size up to 500 is SoundTime's protocol): three
#: pages (20, 20, 3), the protocol of a large catalogue without the ingest of one.
SMALL_PAGES = Limits(catalog_page_size=20)
OWN_TRACKS = 43
#: A lost message is sent again after 1 ms instead of half a second (the scenarios count attempts, not time).
QUICK = Timings(send_retry_delay=0.001)

_OWN_TRACKS_SQL = text(
    """
    WITH artist AS (INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Marisol') RETURNING id)
    INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_path, file_size, created_at)
    SELECT gen_random_uuid(), 'Tide ' || g, (SELECT id FROM artist), 180.5, 'flac',
           encode(sha256(('tide ' || g)::bytea), 'hex'), 'x/' || g, 1000 + g, now() - make_interval(secs => :n - g)
    FROM generate_series(0, :n - 1) g
    """
)


async def _add_own_tracks(instance: Node, count: int) -> None:
    """Rows of ``count`` tracks of the instance's own (catalog sync reads rows only, never the audio)."""
    async with instance.context.db.transaction() as session:
        await session.execute(_OWN_TRACKS_SQL, {"n": count})


async def _scalar(instance: Node, stmt: Any) -> Any:
    async with instance.context.db.transaction() as session:
        return (await session.execute(stmt)).scalar_one_or_none()


async def _peer(instance: Node, node_id: str) -> Peer | None:
    async with instance.context.db.transaction() as session:
        return await session.get(Peer, node_id)


async def _online(instance: Node, node_id: str) -> bool:
    peer = await _peer(instance, node_id)
    return peer is not None and peer.is_online


async def _replicated_from(instance: Node, origin: str) -> int:
    stmt = select(func.count()).select_from(track_sources).where(track_sources.c.node_id == origin)
    return int(await _scalar(instance, stmt))


class CatalogPages:
    """Watches the CatalogSync pages one node sends on the network, and loses the ones it is told to."""

    def __init__(self, sender: str, *, lose_page: int, times: int | None) -> None:
        self.sender = sender
        self.lose_page = lose_page
        self.times = times  # None: every time
        self.pages: list[list[str]] = []  # the hashes of each page, in the order first seen
        self.seen: Counter[str] = Counter()  # by the hash of a page's first track
        self.lost = 0

    def __call__(self, sender: str, _: str, first: bytes) -> bool:
        if sender != self.sender or not first:
            return False
        message = wire.decode_frame(first)
        if not isinstance(message, wire.CatalogSync):
            return False
        key = message.tracks[0].hash
        if key not in self.seen:
            self.pages.append([track.hash for track in message.tracks])
        self.seen[key] += 1
        lost_page = len(self.pages) > self.lose_page and self.pages[self.lose_page][0] == key
        if lost_page and (self.times is None or self.lost < self.times):
            self.lost += 1
            return True
        return False


async def test_three_nodes_learn_each_other_from_the_one_they_share(
    start_node: StartNode, network: MemoryNetwork
) -> None:
    a = await start_node("a", network=network)
    b = await start_node("b", network=network, P2P_SEED_PEERS=a.dial_address())
    assert await eventually(lambda: _online(a, b.node_id))
    c = await start_node("c", network=network, P2P_SEED_PEERS=a.dial_address())

    # C pinged its seed A, exchanged peer lists with it, learned B (with the address A saw) and contacted it.
    assert await eventually(lambda: _online(c, b.node_id))
    assert await eventually(lambda: _online(b, c.node_id))
    learned = await _peer(c, b.node_id)
    assert learned is not None
    assert learned.source == "exchange"
    assert [str(x) for x in learned.addresses] == list(b.node.transport.address().direct_addresses)
    links = select(PeerLink.neighbour_id).where(PeerLink.node_id == a.node_id)
    async with c.context.db.transaction() as session:
        assert set((await session.scalars(links)).all()) == {b.node_id}  # A's list, minus C itself
    # B met C through C's Ping, and keeps the address it came from to dial it back.
    met = await _peer(b, c.node_id)
    assert met is not None
    assert [str(x) for x in met.addresses] == list(c.node.transport.address().direct_addresses)


async def test_a_catalogue_page_lost_on_the_way_is_sent_again(start_node: StartNode, network: MemoryNetwork) -> None:
    a = await start_node("a", network=network, timings=QUICK, limits=SMALL_PAGES)
    await _add_own_tracks(a, OWN_TRACKS)
    pages = CatalogPages(a.node_id, lose_page=1, times=1)
    network.lose(pages)
    b = await start_node("b", network=network, P2P_SEED_PEERS=a.dial_address())

    assert await eventually(lambda: _is(_replicated_from(b, a.node_id), OWN_TRACKS))
    assert [pages.seen[page[0]] for page in pages.pages] == [1, 2, 1]  # the second page, lost once, came again
    assert await _scalar(b, select(func.count()).select_from(Track)) == OWN_TRACKS
    pushed = await eventually(lambda: _watermark(a, b.node_id))
    assert pushed is not None


async def test_a_page_lost_for_good_holds_the_watermark_back_until_a_resync_fills_the_gap(
    start_node: StartNode, network: MemoryNetwork
) -> None:
    a = await start_node("a", network=network, timings=QUICK, limits=SMALL_PAGES)
    await _add_own_tracks(a, OWN_TRACKS)
    pages = CatalogPages(a.node_id, lose_page=1, times=None)
    restore = network.lose(pages)
    b = await start_node("b", network=network, P2P_SEED_PEERS=a.dial_address())

    # Every attempt to send the second page is lost: the push gives up on it, and records no watermark, so the
    # next push cannot skip its tracks.
    assert await eventually(lambda: _is(_lost_count(pages), a.node.policy.limits.send_attempts))
    first, lost = set(pages.pages[0]), set(pages.pages[1])
    assert await eventually(lambda: _is(_hashes(b), first, at_least=True))
    assert not await _hashes(b) & lost
    peer = await _peer(a, b.node_id)
    assert peer is not None
    assert peer.sync_watermark is None

    restore()
    # what POST /api/admin/p2p/library-sync/{node} does (202 with the peer's sync state)
    started = await library_sync.start_resync(b.context, a.node_id)
    assert started.node_id == a.node_id
    assert started.resync is not None
    assert await eventually(lambda: _is(_replicated_from(b, a.node_id), OWN_TRACKS))
    assert await _scalar(b, select(func.count()).select_from(Track)) == OWN_TRACKS
    assert await eventually(lambda: _watermark(a, b.node_id))


async def test_a_peer_lying_about_a_hash_is_caught_and_the_honest_copy_plays(
    start_node: StartNode, network: MemoryNetwork, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_node("a", network=network)
    path = audio.make(tmp_path / "bell.mp3", "mp3", TrackSpec(title="Harbour Bell"))
    digest, data = await _import(a, path), path.read_bytes()
    assert blake3(data).hexdigest() == digest
    liar = await FakeSoundTime.start(network)
    liar.catalog.append(announcement(liar.node_id, 1, hash=digest, file_size=len(data), format="mp3"))
    liar.forged[digest] = os.urandom(len(data))
    try:
        b = await start_node("b", network=network, P2P_SEED_PEERS=f"{a.dial_address()},{liar.dial_address()}")
        track = await track_id(b, digest)
        assert await eventually(lambda: _is(_source_ids(b, track), {a.node_id, liar.node_id}))

        network.cut(a.node_id)  # only the liar can answer
        # the listener gets no complete answer: the transfer fails at the hash check (a stream's response is
        # aborted), or before a byte is handed out (503)
        with pytest.raises((DownloadFailed, ServiceUnavailable)):
            await _play(b, track)
        assert await eventually(lambda: health_of(b, track)) == ("degraded", 1)
        assert await _source_ids(b, track) == {a.node_id}
        assert digest not in cache_files(b)

        network.heal(a.node_id)
        assert await _play(b, track) == data
        assert await eventually(lambda: _is(_cached(b, digest), True))
        assert await _play(b, track) == data  # now from the cache
    finally:
        await liar.close()


async def _import(instance: Node, path: Path) -> str:
    """Add an audio file to the instance's library as ``soundtime import`` does; returns its hash."""
    context = instance.context
    prepared = await asyncio.to_thread(
        prepare_path, path, context.audio, context.blobs, context.settings.max_upload_size
    )
    async with context.db.transaction() as session:
        (outcome,) = await save_prepared(session, [prepared], context.audio, context.blobs, uploaded_by=None)
    assert outcome.status == "imported"
    return outcome.content_hash


async def _play(instance: Node, track: uuid.UUID) -> bytes:
    """The bytes a listener of ``track`` receives, as the stream route hands them out: a stored or cached blob,
    else those of the transfer from a peer (whose last bytes come only once the hash has been checked)."""
    context = instance.context
    async with context.db.transaction() as session:
        audio = await track_audio(session, context, track)
    if isinstance(audio, Media):
        return b"".join([chunk async for chunk in audio.store.aread_range(audio.digest)])
    download = await open_download(context, audio)
    try:
        received = bytearray()
        while len(received) < download.size:
            received += await download.read(len(received), 1 << 18, download.size)
        return bytes(received)
    finally:
        download.release()


async def _is(value: Any, expected: Any, *, at_least: bool = False) -> bool:
    got = await value
    return bool(got >= expected if at_least else got == expected)


async def _lost_count(pages: CatalogPages) -> int:
    return pages.lost


async def _hashes(instance: Node) -> set[str]:
    async with instance.context.db.transaction() as session:
        return set((await session.scalars(select(Track.content_hash))).all())


async def _watermark(instance: Node, node_id: str) -> Any:
    peer = await _peer(instance, node_id)
    return None if peer is None else peer.sync_watermark


async def _source_ids(instance: Node, track: Any) -> set[str]:
    return set(await sources(instance, track))


async def _cached(instance: Node, digest: str) -> bool:
    return digest in cache_files(instance)
