"""search2 and search3: text searches (ranked like ``GET /api/search``, peers included), and the empty query that
pages through the whole library (how Symfonium and others sync).

- An empty query (``""``, ``""`` in quotes, or ``*``) returns every artist, album and song in a stable order (by
  id), paged by the offsets. Paging from one page to the next uses the last id of the previous page instead of
  skipping rows (see :class:`Continuations`), so a full sync costs the same per page at the end as at the start.
- A text query ranks matches as the library search does; offset + count is bounded by :data:`MAX_RANKED`.
- With ``SUBSONIC_SEARCH_PEERS`` (default on) the first page of a text search also asks peers for up to
  :data:`PEER_BUDGET` seconds (their usual rate limit applies; past it, or when they are slow, the answer is
  local only). Tracks only peers hold follow the local songs with ``rh-<hash>`` ids (see :mod:`..remote`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from soundtime.kit.errors import ServiceUnavailable, TooManyRequests
from soundtime.search import service as search
from soundtime.search.schemas import P2PTrack, SearchResults
from soundtime.subsonic import remote, shapes
from soundtime.subsonic import repository as repo
from soundtime.subsonic.endpoints.browsing import check_folder
from soundtime.subsonic.registry import Call, Payload, app_state, endpoint

MAX_COUNT = 500
MAX_OFFSET = 10_000_000
#: A text query ranks at most this many matches per kind (offset + count beyond it find nothing more).
MAX_RANKED = 500
#: How long the first page of a text search waits for peers.
PEER_BUDGET = 3.0
EVERYTHING = {"", '""', "*", "''"}
Kind = Literal["artist", "album", "song"]


class Continuations:
    """Where the previous page of a whole-library listing ended: (kind, offset) → the id of the row before it.

    Bounded (least recently used forgotten). A page whose offset is not known here is found by skipping rows.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._after: OrderedDict[tuple[Kind, int], uuid.UUID] = OrderedDict()

    def get(self, kind: Kind, offset: int) -> uuid.UUID | None:
        """The id after which the rows at ``offset`` start, if known."""
        found = self._after.get((kind, offset))
        if found is not None:
            self._after.move_to_end((kind, offset))
        return found

    def remember(self, kind: Kind, offset: int, last: uuid.UUID) -> None:
        """The rows at ``offset`` start after ``last``."""
        self._after[(kind, offset)] = last
        self._after.move_to_end((kind, offset))
        while len(self._after) > self._max:
            self._after.popitem(last=False)


def continuations(call: Call) -> Continuations:
    """The running application's continuations (created on first use)."""
    found: Continuations = app_state(call, "subsonic_continuations", Continuations)
    return found


@dataclass(frozen=True, slots=True)
class Window:
    """How many of a kind to return, from where."""

    count: int
    offset: int


def _window(call: Call, kind: str) -> Window:
    params = call.params
    count = params.integer(f"{kind}Count", 20, minimum=0, maximum=MAX_COUNT)
    return Window(count, params.integer(f"{kind}Offset", 0, minimum=0, maximum=MAX_OFFSET))


async def _page(call: Call, kind: Kind, window: Window) -> list[Any]:
    if window.count == 0:
        return []
    pages = continuations(call)
    after = pages.get(kind, window.offset) if window.offset else None
    list_after: Any = {"artist": repo.artists_after, "album": repo.albums_after, "song": repo.songs_after}[kind]
    async with call.session() as session:
        rows: list[Any] = await list_after(session, call.me.user_id, window.count, after, window.offset)
    if rows:
        pages.remember(kind, window.offset + len(rows), rows[-1].id)
    return rows


async def _everything(call: Call) -> tuple[list[repo.ArtistRow], list[repo.AlbumRow], list[repo.SongRow]]:
    artists = await _page(call, "artist", _window(call, "artist"))
    albums = await _page(call, "album", _window(call, "album"))
    songs = await _page(call, "song", _window(call, "song"))
    return artists, albums, songs


async def _with_peers(
    call: Call, text: str, windows: dict[Kind, Window]
) -> tuple[SearchResults, list[P2PTrack]] | None:
    """The library's matches and peers' tracks the library does not hold, on the first page of a server that asks
    peers; None when peers are not asked or did not answer in time (busy, rate-limited)."""
    context = call.context
    if not (context.settings.subsonic_search_peers and context.p2p is not None and windows["song"].offset == 0):
        return None
    deepest = max(w.offset + w.count for w in windows.values())
    limit = min(MAX_RANKED, max(1, deepest))
    try:
        found = await asyncio.wait_for(
            search.search_everywhere(context, text, limit, str(call.me.user_id), include_p2p=True), PEER_BUDGET
        )
    except (TimeoutError, TooManyRequests, ServiceUnavailable):
        return None
    return found, [hit for hit in (found.p2p.results if found.p2p else []) if hit.track_id is None]


def _slice(items: list[Any], window: Window) -> list[Any]:
    return items[window.offset : window.offset + window.count]


Found = tuple[list[repo.ArtistRow], list[repo.AlbumRow], list[repo.SongRow], list[P2PTrack]]


async def _rows_of(
    call: Call, results: SearchResults, remote_only: list[P2PTrack], windows: dict[Kind, Window]
) -> Found:
    """The Subsonic rows of a search's results (those still in the library), peers' tracks after the songs."""
    artist_ids = [a.id for a in _slice(results.artists, windows["artist"])]
    album_ids = [a.id for a in _slice(results.albums, windows["album"])]
    song_ids = [t.id for t in _slice(results.tracks, windows["song"])]
    user = call.me.user_id
    async with call.session() as session:
        artist_rows = await repo.artists_by_ids(session, user, artist_ids)
        album_rows = await repo.albums_by_ids(session, user, album_ids)
        song_rows = await repo.songs_by_ids(session, user, song_ids)
    room = max(0, windows["song"].count - len(song_ids))
    return (
        [artist_rows[i] for i in artist_ids if i in artist_rows],
        [album_rows[i] for i in album_ids if i in album_rows],
        [song_rows[i] for i in song_ids if i in song_rows],
        remote_only[:room],
    )


async def _local(call: Call, text: str, windows: dict[Kind, Window]) -> Found:
    """The library's matches in each window: one transaction, one ranked statement per kind asked for."""
    if not search.searchable(text):
        return [], [], [], []
    found: dict[Kind, list[Any]] = {}
    user = call.me.user_id
    best: dict[Kind, Any] = {"artist": repo.best_artists, "album": repo.best_albums, "song": repo.best_songs}
    async with call.session() as session:
        for kind, window in windows.items():
            count = min(window.count, MAX_RANKED - window.offset)
            found[kind] = await best[kind](session, user, text, window.offset, count) if count > 0 else []
    return found["artist"], found["album"], found["song"], []


async def _search(call: Call) -> Found:
    check_folder(call)
    text = (call.params.get("query") or "").strip()
    if text in EVERYTHING:
        everything = await _everything(call)
        return *everything, []
    windows: dict[Kind, Window] = {kind: _window(call, kind) for kind in ("artist", "album", "song")}
    text = text.strip('"')
    with_peers = await _with_peers(call, text, windows)
    if with_peers is None:
        return await _local(call, text, windows)
    return await _rows_of(call, *with_peers, windows)


@endpoint("search3")
async def search3(call: Call) -> Payload:
    """Artists, albums and songs (ID3) matching ``query``; an empty query lists the whole library."""
    artists, albums, songs, hits = await _search(call)
    return {
        "searchResult3": {
            "artist": [shapes.artist(a) for a in artists],
            "album": [shapes.album(a) for a in albums],
            "song": [shapes.song(s) for s in songs] + [remote.hit_song(h) for h in hits],
        }
    }


@endpoint("search2")
async def search2(call: Call) -> Payload:
    """As search3, in the folder view's shapes."""
    artists, albums, songs, hits = await _search(call)
    return {
        "searchResult2": {
            "artist": [shapes.folder_artist(a) for a in artists],
            "album": [shapes.album_child(a) for a in albums],
            "song": [shapes.song(s) for s in songs] + [remote.hit_song(h) for h in hits],
        }
    }
