"""A test peer that behaves like a SoundTime Rust node on the wire.

It reads requests only on connections it accepted, answers Ping with a Pong and then pushes its catalog as
CatalogSync pages on its own outgoing connection, answers PeerExchange and FetchTrack, and records every
request it receives (raw frame bytes included) so tests can check what our node sent.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from blake3 import blake3

from soundtime.p2p import wire
from soundtime.p2p.transport import (
    Callbacks,
    IrohTransport,
    MemoryNetwork,
    PeerAddress,
    PeerConnection,
    Stream,
    Transport,
    TransportError,
)

SOUNDTIME_VERSION = "0.1.57"

#: The track of the golden frames (spec/golden-frames.jsonl), as SoundTime announced it.
GOLDEN_TRACK = wire.TrackAnnouncement(
    hash="ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f",
    title="Bohemian Rhapsody",
    artist_name="Queen",
    album_artist_name=None,
    album_title="A Night at the Opera",
    duration_secs=354.5,
    format="flac",
    file_size=38123456,
    genre="Rock",
    year=1975,
    track_number=11,
    disc_number=1,
    bitrate=1411,
    sample_rate=44100,
    origin_node="d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    cover_hash="af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
)


def announcement(origin: str, index: int, **overrides: object) -> wire.TrackAnnouncement:
    """A golden-shaped announcement of a made-up track ``index``."""
    values: dict[str, object] = {
        "hash": blake3(f"track {index}".encode()).hexdigest(),
        "title": f"Song {index}",
        "artist_name": f"Artist {index % 7}",
        "album_artist_name": None,
        "album_title": f"Album {index % 11}",
        "duration_secs": 180.5,
        "format": "flac",
        "file_size": 1000 + index,
        "genre": "Rock",
        "year": 1975,
        "track_number": index % 20 + 1,
        "disc_number": 1,
        "bitrate": 1411,
        "sample_rate": 44100,
        "origin_node": origin,
        "cover_hash": None,
    }
    values.update(overrides)
    return wire.TrackAnnouncement(**values)  # type: ignore[arg-type]


@dataclass
class Received:
    """A request the fake peer received: who sent it, the raw frame and the decoded message."""

    sender: str
    frame: bytes
    message: wire.Message


@dataclass
class FakeSoundTime:
    """A SoundTime-like node on a real iroh endpoint."""

    transport: Transport
    catalog: list[wire.TrackAnnouncement] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    page_size: int = 500
    #: When set, the push stops after this many pages and the endpoint dies in the middle of the next frame.
    die_after_pages: int | None = None
    #: Blobs served with bytes that do not match their hash: {hash: wrong bytes}.
    forged: dict[str, bytes] = field(default_factory=dict)
    pushes: int = 0
    #: Seconds a fire-and-forget request is held before its FIN (SoundTime FINs once it has handled a page).
    fin_delay: float = 0.0
    #: What our Pong claims as track count (None: the catalog's size).
    claimed_track_count: int | None = None
    #: When set, a SearchQuery is answered with the message it returns (unset: no answer, just the FIN).
    answer_search: Callable[[wire.SearchQuery], wire.Message] | None = None

    @classmethod
    async def start(cls, network: MemoryNetwork | None = None) -> FakeSoundTime:
        """A peer on a real iroh endpoint on loopback, or on ``network``."""
        peer = cls.__new__(cls)

        async def admit(_: str) -> bool:
            return True

        transport: Transport
        if network is None:
            transport = await IrohTransport.start(
                secret_key=os.urandom(32), port=0, relay=False, on_stream=peer._serve, admit=admit
            )
        else:
            transport = await network.start(os.urandom(32), Callbacks(on_stream=peer._serve, admit=admit))
        cls.__init__(peer, transport)
        return peer

    @property
    def node_id(self) -> str:
        return self.transport.node_id

    def address(self) -> PeerAddress:
        """Where a node on the same host (or network) dials this peer."""
        return PeerAddress(self.node_id, self.transport.local_address().direct_addresses[:1])

    def dial_address(self) -> str:
        return f"{self.node_id}@{self.address().direct_addresses[0]}"

    def of_type(self, kind: type[object]) -> list[Received]:
        return [r for r in self.received if isinstance(r.message, kind)]

    async def close(self) -> None:
        await self.transport.close()

    async def call(self, target: PeerAddress, frame: bytes, *, read_reply: bool = True) -> bytes:
        """Send one raw frame to ``target`` on our own connection; return the raw reply (up to the FIN)."""
        connection = await self.transport.connect(target, timeout=10)
        stream = await connection.open_stream(timeout=10)
        await stream.write(frame, timeout=10)
        await stream.finish(ack_timeout=None if read_reply else 10)
        return await stream.read_to_end(64 << 20, timeout=10) if read_reply else b""

    async def send_bloom(self, target: PeerAddress, bloom: wire.BloomFilterData) -> None:
        """Send a BloomExchange (valid or not) to ``target``, as SoundTime does after contact and every 5 minutes."""
        await self.call(target, wire.encode_frame(wire.BloomExchange(bloom=bloom)), read_reply=False)

    async def _serve(self, conn: PeerConnection, stream: Stream) -> None:
        prefix = await stream.read_exact(4, timeout=10)
        body = await stream.read_to_end(wire.MAX_FRAME_SIZE, timeout=10)
        assert struct.unpack(">I", prefix)[0] == len(body)
        message = wire.decode(body)
        self.received.append(Received(conn.node_id, prefix + body, message))
        if isinstance(message, wire.Ping):
            count = len(self.catalog) if self.claimed_track_count is None else self.claimed_track_count
            pong = wire.Pong(node_id=self.node_id, track_count=count, version=SOUNDTIME_VERSION)
            await stream.write(wire.encode_frame(pong), timeout=10)
            await stream.finish(ack_timeout=10)
            asyncio.get_running_loop().create_task(self._push(conn))
        elif isinstance(message, wire.PeerExchange):
            reply = wire.PeerExchange(peers=[self.node_id])
            await stream.write(wire.encode_frame(reply), timeout=10)
        elif isinstance(message, wire.FetchTrack):
            await self.send_blob(stream, message.hash)
        elif isinstance(message, wire.SearchQuery) and self.answer_search is not None:
            await stream.write(wire.encode_frame(self.answer_search(message)), timeout=10)
        else:
            await asyncio.sleep(self.fin_delay)

    async def send_blob(self, stream: Stream, digest: str) -> None:
        """Answer FetchTrack: the length, then the bytes (forged ones when set); subclasses vary the delivery."""
        data = self.forged.get(digest) or self.blobs.get(digest, b"")
        await stream.write(struct.pack(">I", len(data)) + data, timeout=10)

    async def _push(self, conn: PeerConnection) -> None:
        """Push the catalog to the pinger on our own outgoing connection, as SoundTime does."""
        self.pushes += 1
        address = PeerAddress(conn.node_id, tuple(conn.remote_addresses()))
        try:
            out = await self.transport.connect(address, timeout=10)
            pages = [self.catalog[i : i + self.page_size] for i in range(0, len(self.catalog), self.page_size)]
            for number, page in enumerate(pages):
                frame = wire.encode_frame(wire.CatalogSync(tracks=page))
                stream = await out.open_stream(timeout=10)
                if self.die_after_pages is not None and number == self.die_after_pages:
                    await stream.write(frame[: len(frame) // 2], timeout=10)
                    await self.transport.close()
                    return
                await stream.write(frame, timeout=10)
                await stream.finish(ack_timeout=30)
        except TransportError:
            return
