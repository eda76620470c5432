"""The one ingest path of the library, shared by HTTP upload and ``soundtime import``.

Two stages:

1. *prepare* (synchronous, runs in a worker thread or process): read and validate the tags, and stage the
   audio bytes (and the cover) as pending blobs — hashed and fsynced in the store's temp area, not yet visible;
2. *save* (async, one transaction per batch): lock the digests, publish the pending blobs, and upsert covers,
   artists, albums and tracks in a few batched statements. Identical bytes are recognised by their hash.

A file that fails validation leaves nothing behind; a crash leaves at most temp files, which the store
removes at start-up.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from soundtime.blobs.store import BlobStore, BlobTooLarge, BlobWriter, PendingBlob
from soundtime.kit.db import on_commit
from soundtime.library.repository import writes as repo
from soundtime.library.tags import UNKNOWN_ARTIST, AudioRejected, AudioTags, read_tags

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class PendingCover:
    """Cover art staged in the blob store, with its media type."""

    blob: PendingBlob
    mime: str


@dataclass(frozen=True, slots=True)
class PreparedTrack:
    """A validated audio file whose bytes are staged; ``tags.cover`` is dropped (see ``cover``)."""

    name: str
    audio: PendingBlob
    tags: AudioTags
    cover: PendingCover | None


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What happened to one prepared file."""

    name: str
    status: Literal["imported", "duplicate"]
    track_id: uuid.UUID
    content_hash: str


def too_large(limit: int) -> AudioRejected:
    """The rejection for a file over ``MAX_UPLOAD_SIZE``."""
    return AudioRejected("too_large", f"the file is larger than the limit of {limit:,} bytes")


def _stage_cover(tags: AudioTags, blobs: BlobStore) -> PendingCover | None:
    """Stage the embedded cover if an album could show it (covers belong to albums)."""
    if tags.cover is None or _album_key(tags) is None:
        return None
    with blobs.writer() as writer:
        writer.write(tags.cover.data)
        return PendingCover(writer.finish(), tags.cover.mime)


def prepare_written(writer: BlobWriter, name: str, audio_store: BlobStore, blobs: BlobStore) -> PreparedTrack:
    """Validate bytes received into ``writer`` (an upload) and stage them; the writer is finished or aborted."""
    try:
        audio = writer.finish()
    except BaseException:
        writer.abort()
        raise
    try:
        tags = read_tags(audio.temp_path)
        cover = _stage_cover(tags, blobs)
    except BaseException:
        audio_store.discard_pending(audio)
        raise
    return PreparedTrack(name, audio, replace(tags, cover=None), cover)


def prepare_path(path: Path, audio_store: BlobStore, blobs: BlobStore, max_size: int) -> PreparedTrack:
    """Copy a file on disk into the audio store's staging area (hashing as it copies), then validate the copy.

    The checks read the staged copy, so the bytes stored are the bytes checked even if the source changes
    meanwhile. Runs in a worker process during a folder import; everything it returns is picklable.
    """
    writer = audio_store.writer(max_size=max_size)
    try:
        with path.open("rb") as source:
            while chunk := source.read(_COPY_CHUNK):
                writer.write(chunk)
    except BlobTooLarge as exc:
        raise too_large(max_size) from exc
    except BaseException:
        writer.abort()
        raise
    return prepare_written(writer, path.name, audio_store, blobs)


def discard_prepared(item: PreparedTrack, audio_store: BlobStore, blobs: BlobStore) -> None:
    """Drop everything a prepared file staged."""
    audio_store.discard_pending(item.audio)
    if item.cover is not None:
        blobs.discard_pending(item.cover.blob)


def _album_key(tags: AudioTags) -> tuple[str, str] | None:
    if not tags.album:
        return None
    return tags.album, tags.album_artist or tags.artist or UNKNOWN_ARTIST


async def save_prepared(
    session: AsyncSession,
    items: Sequence[PreparedTrack],
    audio_store: BlobStore,
    blobs: BlobStore,
    *,
    uploaded_by: uuid.UUID | None,
) -> list[IngestOutcome]:
    """Publish the staged blobs and write the rows of a batch; returns one outcome per item, in order.

    Takes the digests' advisory locks for the rest of the transaction (see :func:`repo.lock_digests`).
    """
    if not items:
        return []
    digests = [item.audio.digest for item in items]
    staged_covers = [item.cover for item in items if item.cover is not None]
    await repo.lock_digests(session, [*digests, *(c.blob.digest for c in staged_covers)])
    await asyncio.to_thread(audio_store.commit_pending_many, [item.audio for item in items])

    artist_names = {item.tags.artist or UNKNOWN_ARTIST for item in items}
    artist_names.update(key[1] for item in items if (key := _album_key(item.tags)))
    artist_ids = await repo.upsert_artists(session, artist_names)

    album_values: dict[tuple[str, uuid.UUID], repo.AlbumValues] = {}
    for item in items:
        if (key := _album_key(item.tags)) is not None:
            album_key = (key[0], artist_ids[key[1]])
            album_values.setdefault(album_key, repo.AlbumValues(*album_key, item.tags.year, item.tags.genre, None))
    covers = await _choose_covers(session, items, artist_ids, album_values)
    unused = await asyncio.to_thread(_publish_covers, blobs, staged_covers, covers)
    if unused:  # dropped only once committed: a retry after a rollback may still choose one of them
        on_commit(session, functools.partial(_discard_all, blobs, unused))
    await repo.upsert_covers(session, [(c.blob.digest, c.mime, c.blob.size) for c in covers.values()])
    album_ids = await repo.upsert_albums(
        session,
        [replace(v, cover_hash=covers[k].blob.digest if k in covers else None) for k, v in album_values.items()],
    )

    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        key = _album_key(item.tags)
        album_id = album_ids[(key[0], artist_ids[key[1]])] if key else None
        rows.setdefault(
            item.audio.digest,
            _track_row(item, artist_ids[item.tags.artist or UNKNOWN_ARTIST], album_id, audio_store, uploaded_by),
        )
    inserted = await repo.insert_tracks(session, list(rows.values()))
    existing = await repo.track_ids_by_hash(session, [d for d in digests if d not in inserted])

    outcomes: list[IngestOutcome] = []
    for item in items:
        digest = item.audio.digest
        new_id = inserted.pop(digest, None)  # pop: a second copy within the batch is a duplicate
        if new_id is not None:
            outcomes.append(IngestOutcome(item.name, "imported", new_id, digest))
        else:
            track_id = existing.get(digest) or next(o.track_id for o in outcomes if o.content_hash == digest)
            outcomes.append(IngestOutcome(item.name, "duplicate", track_id, digest))
    return outcomes


async def _choose_covers(
    session: AsyncSession,
    items: Sequence[PreparedTrack],
    artist_ids: dict[str, uuid.UUID],
    albums: dict[tuple[str, uuid.UUID], repo.AlbumValues],
) -> dict[tuple[str, uuid.UUID], PendingCover]:
    """The cover each album of the batch will get: the first staged one, for albums that have none yet."""
    current = await repo.album_covers(session, list(albums))
    chosen: dict[tuple[str, uuid.UUID], PendingCover] = {}
    for item in items:
        key = _album_key(item.tags)
        if key is None or item.cover is None:
            continue
        album_key = (key[0], artist_ids[key[1]])
        if current.get(album_key) is None and album_key not in chosen:
            chosen[album_key] = item.cover
    return chosen


def _publish_covers(
    blobs: BlobStore, staged: Sequence[PendingCover], chosen: dict[tuple[str, uuid.UUID], PendingCover]
) -> list[PendingBlob]:
    """Publish the covers albums will show; return the other staged covers."""
    used = list(chosen.values())
    blobs.commit_pending_many([cover.blob for cover in used])
    return [cover.blob for cover in staged if cover not in used]


def _discard_all(store: BlobStore, pending: list[PendingBlob]) -> None:
    for blob in pending:
        store.discard_pending(blob)


def _track_row(
    item: PreparedTrack,
    artist_id: uuid.UUID,
    album_id: uuid.UUID | None,
    audio_store: BlobStore,
    uploaded_by: uuid.UUID | None,
) -> dict[str, Any]:
    tags = item.tags
    return {
        "id": uuid.uuid4(),
        "title": tags.title or _title_from_name(item.name),
        "artist_id": artist_id,
        "album_id": album_id,
        "track_number": tags.track_number,
        "disc_number": tags.disc_number,
        "year": tags.year,
        "genre": tags.genre,
        "duration_secs": tags.duration_secs,
        "format": tags.format,
        "bitrate_kbps": tags.bitrate_kbps,
        "sample_rate": tags.sample_rate,
        "channels": tags.channels,
        "content_hash": item.audio.digest,
        "file_path": audio_store.relative_path(item.audio.digest),
        "file_size": item.audio.size,
        "uploaded_by": uploaded_by,
    }


def _title_from_name(name: str) -> str:
    stem = Path(name).stem.strip() or "Untitled"
    return "".join(ch for ch in stem if ch.isprintable())[:255] or "Untitled"
