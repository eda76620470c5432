"""Protocol scenarios between whole instances on the in-memory network (real codec, handlers and databases; no
iroh): three nodes learning each other, a catalogue page lost on the way, a peer lying about a hash."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from sqlalchemy import func, select, text

from soundtime.models import Peer, PeerLink, RemoteTrackSource, Track
from soundtime.p2p import wire
from soundtime.p2p.policy import Timings
from soundtime.p2p.transport import MemoryNetwork
from tests.p2p.conftest import Instance, StartInstance, eventually
from tests.p2p.test_playback import cache_files, health_of, sources, stream, track_id
from tests.support.api import upload
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.soundtime_peer import FakeSoundTime, announcement

#: Three catalogue pages (500, 500, 203).
OWN_TRACKS = 1203
#: A lost message is sent again after 10 ms instead of half a second (the scenarios count attempts, not time).
QUICK = Timings(send_retry_delay=0.01)

_OWN_TRACKS_SQL = text(
    """
    WITH artist AS (INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Marisol') RETURNING id)
    INSERT INTO tracks (id, title, artist_id, duration_secs, format, content_hash, file_path, file_size, created_at)
    SELECT gen_random_uuid(), 'Tide ' || g, (SELECT id FROM artist), 180.5, 'flac',
           encode(sha256(('tide ' || g)::bytea), 'hex'), 'x/' || g, 1000 + g, now() - make_interval(secs => :n - g)
    FROM generate_series(0, :n - 1) g
    """
)


async def _add_own_tracks(instance: Instance, count: int) -> None:
    """Rows of ``count`` tracks of the instance's own (catalog sync reads rows only, never the audio)."""
    async with instance.context.db.transaction() as session:
        await session.execute(_OWN_TRACKS_SQL, {"n": count})


async def _scalar(instance: Instance, stmt: Any) -> Any:
    async with instance.context.db.transaction() as session:
        return (await session.execute(stmt)).scalar_one_or_none()


async def _peer(instance: Instance, node_id: str) -> Peer | None:
    async with instance.context.db.transaction() as session:
        return await session.get(Peer, node_id)


async def _online(instance: Instance, node_id: str) -> bool:
    peer = await _peer(instance, node_id)
    return peer is not None and peer.is_online


async def _replicated_from(instance: Instance, origin: str) -> int:
    stmt = select(func.count()).select_from(RemoteTrackSource).where(RemoteTrackSource.node_id == origin)
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
    start_instance: StartInstance, network: MemoryNetwork
) -> None:
    a = await start_instance("a", network=network, admin=False)
    b = await start_instance("b", network=network, admin=False, P2P_SEED_PEERS=a.dial_address())
    assert await eventually(lambda: _online(a, b.node_id))
    c = await start_instance("c", network=network, admin=False, P2P_SEED_PEERS=a.dial_address())

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


async def test_a_catalogue_page_lost_on_the_way_is_sent_again(
    start_instance: StartInstance, network: MemoryNetwork
) -> None:
    a = await start_instance("a", network=network, timings=QUICK, admin=False)
    await _add_own_tracks(a, OWN_TRACKS)
    pages = CatalogPages(a.node_id, lose_page=1, times=1)
    network.lose(pages)
    b = await start_instance("b", network=network, admin=False, P2P_SEED_PEERS=a.dial_address())

    assert await eventually(lambda: _is(_replicated_from(b, a.node_id), OWN_TRACKS))
    assert [pages.seen[page[0]] for page in pages.pages] == [1, 2, 1]  # the second page, lost once, came again
    assert await _scalar(b, select(func.count()).select_from(Track)) == OWN_TRACKS
    pushed = await eventually(lambda: _watermark(a, b.node_id))
    assert pushed is not None


async def test_a_page_lost_for_good_holds_the_watermark_back_until_a_resync_fills_the_gap(
    start_instance: StartInstance, network: MemoryNetwork
) -> None:
    a = await start_instance("a", network=network, timings=QUICK, admin=False)
    await _add_own_tracks(a, OWN_TRACKS)
    pages = CatalogPages(a.node_id, lose_page=1, times=None)
    restore = network.lose(pages)
    b = await start_instance("b", network=network, P2P_SEED_PEERS=a.dial_address())

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
    started = await b.client.post(f"/api/admin/p2p/library-sync/{a.node_id}", headers=b.headers)
    assert started.status_code == 202, started.text
    assert await eventually(lambda: _is(_replicated_from(b, a.node_id), OWN_TRACKS))
    assert await _scalar(b, select(func.count()).select_from(Track)) == OWN_TRACKS
    assert await eventually(lambda: _watermark(a, b.node_id))


async def test_a_peer_lying_about_a_hash_is_caught_and_the_honest_copy_plays(
    start_instance: StartInstance, network: MemoryNetwork, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a", network=network)
    path = audio.make(tmp_path / "bell.mp3", "mp3", TrackSpec(title="Harbour Bell"))
    uploaded = await upload(a.client, a.token, path)
    assert uploaded.status_code == 201, uploaded.text
    digest, data = uploaded.json()["track"]["content_hash"], path.read_bytes()
    assert blake3(data).hexdigest() == digest
    liar = await FakeSoundTime.start(network)
    liar.catalog.append(announcement(liar.node_id, 1, hash=digest, file_size=len(data), format="mp3"))
    liar.forged[digest] = os.urandom(len(data))
    try:
        b = await start_instance("b", network=network, P2P_SEED_PEERS=f"{a.dial_address()},{liar.dial_address()}")
        track = await track_id(b, digest)
        assert await eventually(lambda: _is(_source_ids(b, track), {a.node_id, liar.node_id}))

        network.cut(a.node_id)  # only the liar can answer
        # the in-process client surfaces the response aborted at the first wrong byte as the app's error
        with pytest.raises(Exception):  # noqa: B017, PT011
            await stream(b, track)
        assert await eventually(lambda: health_of(b, track)) == ("degraded", 1)
        assert await _source_ids(b, track) == {a.node_id}
        assert digest not in cache_files(b)

        network.heal(a.node_id)
        played = await stream(b, track)
        assert played.status_code == 200
        assert played.content == data
        assert await eventually(lambda: _is(_cached(b, digest), True))
    finally:
        await liar.close()


async def _is(value: Any, expected: Any, *, at_least: bool = False) -> bool:
    got = await value
    return bool(got >= expected if at_least else got == expected)


async def _lost_count(pages: CatalogPages) -> int:
    return pages.lost


async def _hashes(instance: Instance) -> set[str]:
    async with instance.context.db.transaction() as session:
        return set((await session.scalars(select(Track.content_hash))).all())


async def _watermark(instance: Instance, node_id: str) -> Any:
    peer = await _peer(instance, node_id)
    return None if peer is None else peer.sync_watermark


async def _source_ids(instance: Instance, track: Any) -> set[str]:
    return set(await sources(instance, track))


async def _cached(instance: Instance, digest: str) -> bool:
    return digest in cache_files(instance)
