"""Media annotation: star, unstar, setRating, scrobble (the listening feature keeps them per user)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from soundtime.listening import favourites, history
from soundtime.listening.repository import Kind
from soundtime.subsonic import ids, remote
from soundtime.subsonic.errors import Code, SubsonicError, missing
from soundtime.subsonic.registry import Call, Payload, endpoint

_KINDS: dict[str, Kind] = {"tr": "track", "rh": "track", "al": "album", "ar": "artist"}
MAX_ITEMS = 1000


async def _targets(call: Call) -> dict[Kind, list[uuid.UUID]]:
    """What ``id`` (any kind), ``albumId`` and ``artistId`` name, by kind (peers' hits imported)."""
    params = call.params
    raw: list[tuple[str, tuple[ids.Kind, ...]]] = [(value, ("tr", "rh", "al", "ar")) for value in params.all("id")]
    raw += [(value, ("al",)) for value in params.all("albumId")]
    raw += [(value, ("ar",)) for value in params.all("artistId")]
    if len(raw) > MAX_ITEMS:
        raise SubsonicError(Code.GENERIC, f"at most {MAX_ITEMS} items at once")
    targets: dict[Kind, list[uuid.UUID]] = defaultdict(list)
    for value, allowed in raw:
        parsed = ids.parse(value, *allowed)
        item = await remote.track_id(call, value) if parsed.kind == "rh" else parsed.uuid
        assert item is not None
        targets[_KINDS[parsed.kind]].append(item)
    return targets


@endpoint("star")
async def star(call: Call) -> Payload:
    """Star songs, albums and artists (``id``, ``albumId``, ``artistId``, each repeatable)."""
    targets = await _targets(call)
    if not targets:
        raise missing("id")
    async with call.session() as session:
        for kind, items in targets.items():
            await favourites.star(session, call.me.user_id, kind, items)
    return {}


@endpoint("unstar")
async def unstar(call: Call) -> Payload:
    """Remove stars."""
    targets = await _targets(call)
    if not targets:
        raise missing("id")
    async with call.session() as session:
        for kind, items in targets.items():
            await favourites.unstar(session, call.me.user_id, kind, items)
    return {}


@endpoint("setRating")
async def set_rating(call: Call) -> Payload:
    """Rate a song, album or artist 1..5; 0 removes the rating."""
    raw = call.params.require("id")
    rating = call.params.optional_integer("rating")
    if rating is None:
        raise missing("rating")
    if not 0 <= rating <= 5:
        raise SubsonicError(Code.GENERIC, "rating must be between 0 and 5")
    parsed = ids.parse(raw, "tr", "rh", "al", "ar")
    item = await remote.track_id(call, raw) if parsed.kind == "rh" else parsed.uuid
    assert item is not None
    async with call.session() as session:
        await favourites.rate(session, call.me.user_id, _KINDS[parsed.kind], item, rating)
    return {}


@endpoint("scrobble")
async def scrobble(call: Call) -> Payload:
    """Record plays (``submission=true``, the default) at ``time`` (ms, one per ``id``; default now). A "now
    playing" notification (``submission=false``) is accepted and not recorded."""
    values = call.params.all("id")
    if not values:
        raise missing("id")
    if len(values) > MAX_ITEMS:
        raise SubsonicError(Code.GENERIC, f"at most {MAX_ITEMS} plays at once")
    if not call.params.boolean("submission", True):
        for value in values:
            ids.parse(value, "tr", "rh")
        return {}
    times = call.params.timestamps_ms("time")
    plays = [
        (await remote.track_id(call, value), times[index] if index < len(times) else None)
        for index, value in enumerate(values)
    ]
    async with call.session() as session:
        await history.record(session, call.me.user_id, plays, call.me.client)
    return {}
