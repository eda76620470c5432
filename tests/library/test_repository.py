"""Repository behaviour under concurrency, with two real sessions on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from soundtime.kit.db import Database
from soundtime.library.repository import writes as repo
from soundtime.models import Album, Artist, Track


async def _album(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    async with db.transaction() as session:
        artists = await repo.upsert_artists(session, ["Someone"])
        albums = await repo.upsert_albums(session, [repo.AlbumValues("Empty", artists["Someone"], None, None, None)])
    return artists["Someone"], albums[("Empty", artists["Someone"])]


def _track_row(artist_id: uuid.UUID, album_id: uuid.UUID) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "title": "Arriving",
        "artist_id": artist_id,
        "album_id": album_id,
        "duration_secs": 1.0,
        "format": "mp3",
        "content_hash": "ab" * 32,
        "file_path": None,
        "file_size": 1,
    }


async def test_cleanup_of_an_album_that_a_concurrent_upload_is_filling(db: Database) -> None:
    artist_id, album_id = await _album(db)
    async with db.sessionmaker() as filler:
        await repo.insert_tracks(filler, [_track_row(artist_id, album_id)])  # not committed yet

        async def clean_up() -> tuple[object, object]:
            async with db.transaction() as session:
                album = await repo.delete_album_if_empty(session, album_id)
                await repo.delete_artists_if_unused(session, [artist_id])
                return album

        cleaner = asyncio.create_task(clean_up())
        await asyncio.sleep(0.3)
        assert not cleaner.done(), "the clean-up should wait for the uploader's row lock"
        await filler.commit()
        assert await cleaner == (None, None)

    async with db.transaction() as session:
        assert (await session.execute(select(Album.id))).scalars().all() == [album_id]
        assert (await session.execute(select(Artist.id))).scalars().all() == [artist_id]
        assert len((await session.execute(select(Track.id))).all()) == 1


async def test_cleanup_of_an_unused_album_and_artist(db: Database) -> None:
    artist_id, album_id = await _album(db)
    async with db.transaction() as session:
        assert await repo.delete_album_if_empty(session, album_id) == (artist_id, None)
        await repo.delete_artists_if_unused(session, [artist_id])
    async with db.transaction() as session:
        assert (await session.execute(select(Artist.id))).all() == []


async def test_an_upload_keeps_the_artist_a_concurrent_clean_up_wanted_to_delete(db: Database) -> None:
    artist_id, album_id = await _album(db)
    async with db.transaction() as session:
        await repo.delete_album_if_empty(session, album_id)  # the artist is now unused
    async with db.sessionmaker() as uploader:
        ids = await repo.upsert_artists(uploader, ["Someone"])  # the uploader will refer to it

        async def clean_up() -> None:
            async with db.transaction() as session:
                await repo.delete_artists_if_unused(session, [artist_id])

        cleaner = asyncio.create_task(clean_up())
        await asyncio.sleep(0.3)
        assert not cleaner.done(), "the clean-up waits for the uploader's key-share lock"
        albums = await repo.upsert_albums(uploader, [repo.AlbumValues("New", ids["Someone"], None, None, None)])
        row = _track_row(ids["Someone"], albums[("New", ids["Someone"])])
        await repo.insert_tracks(uploader, [row])
        await uploader.commit()
        await cleaner
    async with db.transaction() as session:
        assert (await session.execute(select(Artist.id))).scalars().all() == [artist_id]
