"""The saved play queue: getPlayQueue / savePlayQueue, and the indexBasedQueue extension's
getPlayQueueByIndex / savePlayQueueByIndex (the same queue, its current entry given by index)."""

from __future__ import annotations

from soundtime.listening import queue
from soundtime.subsonic import ids, remote, shapes
from soundtime.subsonic import repository as repo
from soundtime.subsonic.errors import Code, SubsonicError
from soundtime.subsonic.registry import Call, Payload, endpoint
from soundtime.subsonic.render import timestamp

MAX_POSITION_MS = 1 << 40


async def _load(call: Call) -> tuple[queue.SavedQueue, list[Payload]] | None:
    async with call.session() as session:
        saved = await queue.load(session, call.me.user_id)
        if saved is None:
            return None
        songs = await repo.songs_by_ids(session, call.me.user_id, saved.track_ids)
    return saved, [shapes.song(songs[t]) for t in saved.track_ids if t in songs]


def _common(call: Call, saved: queue.SavedQueue, entries: list[Payload]) -> Payload:
    return {
        "position": saved.position_ms,
        "username": call.me.username,
        "changed": timestamp(saved.changed_at),
        "changedBy": saved.changed_by,
        "entry": entries,
    }


@endpoint("getPlayQueue")
async def get_play_queue(call: Call) -> Payload:
    """The queue saved by any of the caller's devices (an empty answer when none was saved)."""
    loaded = await _load(call)
    if loaded is None:
        return {}
    saved, entries = loaded
    current = ids.track(saved.track_ids[saved.current_index]) if saved.current_index is not None else None
    return {"playQueue": shapes.compact({"current": current, **_common(call, saved, entries)})}


@endpoint("getPlayQueueByIndex")
async def get_play_queue_by_index(call: Call) -> Payload:
    """As getPlayQueue, with the current entry's index (a song may be in the queue more than once)."""
    loaded = await _load(call)
    if loaded is None:
        return {}
    saved, entries = loaded
    return {"playQueueByIndex": shapes.compact({"currentIndex": saved.current_index, **_common(call, saved, entries)})}


async def _save(call: Call, current_index: int | None) -> None:
    tracks = [await remote.track_id(call, value) for value in call.params.all("id")]
    position = call.params.integer("position", 0, minimum=0, maximum=MAX_POSITION_MS)
    async with call.session() as session:
        await queue.save(
            session, call.me.user_id, tracks, current_index=current_index, position_ms=position, client=call.me.client
        )


@endpoint("savePlayQueue")
async def save_play_queue(call: Call) -> Payload:
    """Save the queue (``id`` repeated), the song playing (``current``: its first entry) and the position in it
    (``position``, ms). No ``id`` clears the saved queue."""
    current = call.params.get("current")
    index = None
    if current:
        wanted = ids.parse(current, "tr", "rh")
        values = call.params.all("id")
        index = next((i for i, value in enumerate(values) if ids.parse(value, "tr", "rh") == wanted), None)
        if index is None:
            raise SubsonicError(Code.GENERIC, "current must be one of the ids of the queue")
    await _save(call, index)
    return {}


@endpoint("savePlayQueueByIndex")
async def save_play_queue_by_index(call: Call) -> Payload:
    """As savePlayQueue, the current entry given by ``currentIndex``."""
    await _save(call, call.params.optional_integer("currentIndex"))
    return {}
