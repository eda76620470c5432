"""Peers' tracks through /rest/: search hits held by peers only (``rh-<hash>`` ids), and bringing them into the
library when a client plays, stars or adds one (the same import as ``POST /api/p2p/search/import``).

A hit is remembered by the federation node for 30 minutes after the search that found it. Once imported, it is
a replicated track like any other (``tr-`` id, fetched from its peers while it is streamed).
"""

from __future__ import annotations

import uuid
from typing import Any

from soundtime.search import service as search
from soundtime.search.schemas import P2PTrack
from soundtime.streaming.service import audio_type
from soundtime.subsonic import ids, shapes
from soundtime.subsonic import repository as repo
from soundtime.subsonic.errors import not_found
from soundtime.subsonic.registry import Call


def hit_song(hit: P2PTrack) -> dict[str, Any]:
    """A peer's hit found by search as a ``Child``."""
    return _child(
        hit.hash,
        title=hit.title,
        artist=hit.artist_name,
        album=hit.album_title,
        duration_secs=hit.duration_secs,
        fmt=hit.format,
        year=hit.year,
        genre=hit.genre,
        bitrate_kbps=hit.bitrate_kbps,
    )


def _child(
    digest: str,
    *,
    title: str,
    artist: str,
    album: str | None,
    duration_secs: float,
    fmt: str,
    year: int | None,
    genre: str | None,
    bitrate_kbps: int | None,
) -> dict[str, Any]:
    """A track only peers hold as a ``Child`` (no album or artist ids: none exist here until it is imported)."""
    fmt = fmt.lower()
    return shapes.compact(
        {
            "id": ids.remote_hit(digest),
            "isDir": False,
            "title": title,
            "album": album,
            "artist": artist,
            "year": year,
            "genre": genre,
            "contentType": audio_type(fmt),
            "suffix": shapes.SUFFIX.get(fmt, fmt),
            "duration": round(duration_secs),
            "bitRate": bitrate_kbps,
            "isVideo": False,
            "type": "music",
            "mediaType": "song",
            "displayArtist": artist,
        }
    )


async def import_hit(call: Call, digest: str) -> uuid.UUID:
    """The library's track for a remembered hit, imported from its peers now if needed (error 70 when the hit is
    no longer remembered; errors of the import, e.g. no peer answering, are passed on)."""
    track, _ = await search.import_result(call.context, digest, str(call.me.user_id))
    return track.id


async def track_id(call: Call, raw: str) -> uuid.UUID:
    """The track an id names: ``tr-<uuid>``, or ``rh-<hash>`` imported on the way."""
    parsed = ids.parse(raw, "tr", "rh")
    if parsed.kind == "rh":
        assert parsed.digest is not None
        return await import_hit(call, parsed.digest)
    assert parsed.uuid is not None
    return parsed.uuid


async def remembered_song(call: Call, digest: str) -> dict[str, Any]:
    """getSong of an ``rh-`` id: the track if it was imported since, else the remembered hit."""
    async with call.session() as session:
        held = await repo.song_by_hash(session, call.me.user_id, digest)
    if held is not None:
        return shapes.song(held)
    peers = call.context.peer_search
    found = peers.fanout.recent.get(digest) if peers is not None else None
    if found is None:
        raise not_found("song")
    item = found.item
    return _child(
        item.hash,
        title=item.title,
        artist=item.artist_name,
        album=item.album_title,
        duration_secs=item.duration_secs,
        fmt=item.format,
        year=item.year,
        genre=item.genre,
        bitrate_kbps=item.bitrate,
    )
