"""Taking a backup while the library changes: the dump and the copied blobs always agree (in process, on the
session's PostgreSQL through DATABASE_URL; the command line and the embedded database are in test_backup_cli)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from soundtime.backup import manifest as layout
from soundtime.backup.progress import Silent
from soundtime.backup.restore import restore_backup, verify_backup
from soundtime.backup.take import take_backup
from soundtime.blobs.store import BlobStore
from soundtime.kit.db import Database
from soundtime.library.removal import remove_track
from soundtime.models import Track
from tests.conftest import make_settings
from tests.support.api import context_of, register, upload
from tests.support.audio import AudioFactory, TrackSpec, make_cover_png


class OnCopy(Silent):
    """Runs ``action`` in another thread (its own event loop and connections) each time a copy round begins."""

    def __init__(self, action: Callable[[int], None]) -> None:
        self.action, self.rounds = action, 0

    def begin(self, what: str, total_bytes: int) -> None:
        if what.startswith("copying"):
            self.rounds += 1
            worker = threading.Thread(target=self.action, args=(self.rounds,))
            worker.start()
            worker.join()


async def library(app: FastAPI, client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path) -> dict[str, str]:
    """Three uploaded tracks (one with a cover); title → content hash."""
    token = await register(client)
    for title, fmt in (("One", "flac"), ("Two", "mp3"), ("Three", "ogg")):
        spec = TrackSpec(title=title, album=title, cover=make_cover_png(3) if title == "One" else None)
        response = await upload(client, token, audio.make(tmp_path / "in" / f"{title}.{fmt}", fmt, spec))
        assert response.status_code == 201, response.text
    async with context_of(app).db.transaction() as session:
        rows = await session.execute(select(Track.title, Track.content_hash))
        return dict(rows.all())


def stores_of(app: FastAPI) -> dict[str, BlobStore]:
    context = context_of(app)
    return {"audio": context.audio, "covers": context.blobs}


async def count_tracks(url: str) -> set[str]:
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            return set((await session.execute(select(Track.title))).scalars())
    finally:
        await db.dispose()


async def test_a_track_removed_while_blobs_are_copied_is_in_neither_the_dump_nor_the_folder(
    app: FastAPI,
    client: httpx.AsyncClient,
    audio: AudioFactory,
    tmp_path: Path,
    make_database: Callable[[str], str],
) -> None:
    hashes = await library(app, client, audio, tmp_path)
    context = context_of(app)
    url = context.settings.database_url
    assert url is not None

    def remove_two(round_number: int) -> None:  # after the first snapshot, before its blobs are copied
        async def remove() -> None:
            db = Database(url, pool_size=1)
            audio_store, covers = BlobStore(context.settings.audio_dir), BlobStore(context.settings.blobs_dir)
            try:
                async with db.transaction() as session:
                    track = (await session.execute(select(Track).where(Track.title == "Two"))).scalar_one()
                    assert await remove_track(session, audio_store, covers, track)
            finally:
                await db.dispose()
                audio_store.release_owner()

        if round_number == 1:
            asyncio.run(remove())

    folder = tmp_path / "backup"
    report = await take_backup(context.settings, url, folder, stores_of(app), OnCopy(remove_two))
    assert report.rounds == 2  # the first round missed Two's audio: a new snapshot without it
    assert (report.audio, report.covers, report.unavailable) == (2, 1, [])
    written = layout.load(folder)
    assert {b.digest for b in written.audio} == {hashes["One"], hashes["Three"]}
    assert not (folder / "audio" / hashes["Two"][:2] / hashes["Two"]).exists()

    # The dump is of the second snapshot: restored, it has exactly the tracks whose audio is in the folder.
    target = make_database("backup_round_trip")
    settings = make_settings(tmp_path / "restored", target)
    stores = {"audio": BlobStore(settings.audio_dir), "covers": BlobStore(settings.blobs_dir)}
    checked = verify_backup(folder, Silent())
    restored = await restore_backup(settings, target, folder, checked, stores=stores, reporter=Silent())
    assert (restored.audio, restored.covers) == (2, 1)
    assert await count_tracks(target) == {"One", "Three"}
    for title in ("One", "Three"):
        assert stores["audio"].verify(hashes[title])


async def test_audio_the_instance_lacks_itself_is_listed_as_unavailable(
    app: FastAPI, client: httpx.AsyncClient, audio: AudioFactory, tmp_path: Path
) -> None:
    hashes = await library(app, client, audio, tmp_path)
    context = context_of(app)
    assert context.settings.database_url is not None
    context.audio.path_for(hashes["One"]).unlink()  # lost from the disk, still in the database
    damaged = context.audio.path_for(hashes["Two"])
    damaged.chmod(0o644)
    data = bytearray(damaged.read_bytes())
    data[-100] ^= 0xFF  # a bit flipped on the disk
    damaged.write_bytes(bytes(data))

    folder = tmp_path / "backup"
    report = await take_backup(context.settings, context.settings.database_url, folder, stores_of(app), Silent())
    assert report.rounds == 2  # a second snapshot confirms One is not merely a removal in progress
    assert {b.digest for b in report.unavailable} == {hashes["One"], hashes["Two"]}
    written = layout.load(folder)
    assert [b.digest for b in written.audio] == [hashes["Three"]]
    assert {b.digest for b in written.unavailable} == {hashes["One"], hashes["Two"]}
    assert not (folder / "audio" / hashes["Two"][:2] / hashes["Two"]).exists()
