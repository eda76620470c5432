"""Garbage collection of blobs and cover rows that nothing refers to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from blake3 import blake3
from fastapi import FastAPI
from sqlalchemy import select

from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.library.maintenance import collect_garbage
from soundtime.library.repository import writes as repo
from soundtime.models import Album, Cover
from tests.support.api import context_of, register, upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png


def publish(store: BlobStore, data: bytes) -> str:
    """A blob with no row, as a crash between publishing and committing leaves it."""
    with store.writer() as writer:
        writer.write(data)
        return writer.commit().digest


async def test_unreferenced_blobs_and_covers_are_removed_referenced_kept(
    client: httpx.AsyncClient, app: FastAPI, audio: AudioFactory, tmp_path: Path
) -> None:
    token = await register(client)
    kept = (
        await upload(client, token, audio.make(tmp_path / "k.flac", "flac", TrackSpec(cover=make_cover_png(1))))
    ).json()
    context = context_of(app)
    orphan_audio = publish(context.audio, b"audio left behind by a crash")
    orphan_cover = publish(context.blobs, make_cover_png(9))
    async with context.db.transaction() as session:
        session.add(Cover(hash=orphan_cover, mime="image/png", size=len(make_cover_png(9))))

    young = await collect_garbage(context.db, context.audio, context.blobs)  # default grace: all too young
    assert (young.audio_blobs, young.cover_rows, young.cover_blobs) == (0, 0, 0)
    assert context.audio.exists(orphan_audio)

    report = await collect_garbage(context.db, context.audio, context.blobs, grace=-1)
    assert (report.audio_blobs, report.cover_rows, report.cover_blobs) == (1, 1, 1)
    assert not context.audio.exists(orphan_audio)
    assert not context.blobs.exists(orphan_cover)
    assert context.audio.exists(kept["track"]["content_hash"])
    assert context.blobs.exists(blake3(make_cover_png(1)).hexdigest())
    async with context.db.transaction() as session:
        assert list((await session.execute(select(Cover.hash))).scalars()) == [blake3(make_cover_png(1)).hexdigest()]


async def test_collector_waits_for_an_upload_that_reuses_an_unshown_cover(db: Database, tmp_path: Path) -> None:
    audio, blobs = BlobStore(tmp_path / "audio"), BlobStore(tmp_path / "blobs")
    cover = publish(blobs, make_cover_png(4))
    async with db.transaction() as session:
        session.add(Cover(hash=cover, mime="image/png", size=len(make_cover_png(4))))  # shown by no album

    async with db.sessionmaker() as uploader:  # an upload choosing that cover for a new album, not committed
        await repo.lock_digests(uploader, [cover])
        await repo.upsert_covers(uploader, [(cover, "image/png", len(make_cover_png(4)))])
        artists = await repo.upsert_artists(uploader, ["Artist"])
        await repo.upsert_albums(uploader, [repo.AlbumValues("Album", artists["Artist"], None, None, cover)])

        collector = asyncio.create_task(collect_garbage(db, audio, blobs, grace=-1))
        await asyncio.sleep(0.3)
        assert not collector.done(), "the collector waits for the upload's digest lock"
        await uploader.commit()
        report = await collector

    assert (report.cover_rows, report.cover_blobs) == (0, 0)
    assert blobs.exists(cover)
    async with db.transaction() as session:
        assert (await session.execute(select(Album.cover_hash))).scalars().all() == [cover]
