"""Federated tracks through /rest/ with a real client (py-opensonic) against a live server: a track replicated from
another instance plays byte for byte, and a search returns a peer's track that is imported when it is played."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from blake3 import blake3
from libopensonic import AsyncConnection
from sqlalchemy import select

from soundtime.models import Track
from tests.p2p.conftest import Instance, eventually
from tests.support.api import upload
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.live_server import live_server


async def track_of(instance: Instance, digest: str) -> uuid.UUID | None:
    async with instance.context.db.transaction() as session:
        found: uuid.UUID | None = await session.scalar(select(Track.id).where(Track.content_hash == digest))
        return found


async def test_federated_tracks_play_and_peer_hits_are_imported_when_played(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a: Instance = await start_instance("a")
    files = {}
    for title in ("Bohemian Rhapsody", "Radio Gaga"):
        path = audio.make(
            tmp_path / f"{title}.flac", "flac", TrackSpec(title=title, artist="Queen", album="Hits", duration=2.0)
        )
        response = await upload(a.client, a.token, path)
        assert response.status_code == 201, response.text
        files[title] = path.read_bytes()
    await a.search.filters.rebuild()
    b: Instance = await start_instance("b", P2P_SEED_PEERS=a.dial_address())
    digests = {title: blake3(data).hexdigest() for title, data in files.items()}
    for digest in digests.values():
        await eventually(lambda digest=digest: track_of(b, digest))
    await eventually(lambda: _has_filter(b, a.node_id))
    password = (await b.client.post("/api/me/app-passwords", json={"name": "phone"}, headers=b.headers)).json()

    async with live_server(b.app) as url:
        parts = urlsplit(url)
        conn = AsyncConnection(f"http://{parts.hostname}", "admin", password["password"], port=parts.port or 80)
        try:
            [song] = (await conn.search3("bohemian")).song or []
            assert song.id == f"tr-{await track_of(b, digests['Bohemian Rhapsody'])}"  # replicated: a track of b's
            stream = await conn.stream(song.id)
            assert await stream.read() == files["Bohemian Rhapsody"]  # fetched from a while it streamed
            assert await conn.star(sids=[song.id])

            gaga = await track_of(b, digests["Radio Gaga"])
            assert (await b.client.delete(f"/api/tracks/{gaga}", headers=b.headers)).status_code == 204
            [hit] = (await conn.search3("gaga")).song or []
            assert hit.id == f"rh-{digests['Radio Gaga']}"  # held by the peer only
            assert (hit.title, hit.artist, hit.album) == ("Radio Gaga", "Queen", "Hits")
            assert (await conn.get_song(hit.id)).title == "Radio Gaga"
            played = await conn.stream(hit.id)
            assert await played.read() == files["Radio Gaga"]
            imported = await track_of(b, digests["Radio Gaga"])
            assert imported is not None
            assert (await conn.get_song(hit.id)).id == f"tr-{imported}"  # the hit now names the imported track
            assert (await conn.search3("gaga")).song[0].id == f"tr-{imported}"  # type: ignore[index]
        finally:
            await conn.cleanup()


async def _has_filter(instance: Instance, node_id: str) -> bool:
    return instance.search.filters.received.get(node_id) is not None
