"""Browsing by tags (getArtists, getArtist, getAlbum, getSong, getGenres) and by folders, simulated as
artist → album → songs (getIndexes, getMusicDirectory), plus the artist/album info endpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from soundtime.models import Artist
from soundtime.subsonic import ids, remote, shapes
from soundtime.subsonic import repository as repo
from soundtime.subsonic.endpoints.system import MUSIC_FOLDER
from soundtime.subsonic.errors import Code, SubsonicError, not_found
from soundtime.subsonic.registry import Call, Payload, endpoint
from soundtime.subsonic.render import timestamp

#: Tracks without an album shown in an artist's folder, at most.
LOOSE_SONGS = 500


def check_folder(call: Call) -> None:
    """Error 70 for a music folder other than the one this server has."""
    folder = call.params.optional_integer("musicFolderId")
    if folder is not None and folder != MUSIC_FOLDER["id"]:
        raise not_found("music folder")


@endpoint("getIndexes")
async def get_indexes(call: Call) -> Payload:
    """Artists by index letter (the root of the folder view); nothing new since ``ifModifiedSince`` → no index."""
    check_folder(call)
    since = call.params.optional_integer("ifModifiedSince") or 0
    async with call.session() as session:
        changed = await repo.last_modified(session)
        modified = int(changed.timestamp() * 1000) if changed else 0
        rows = await repo.index_artists(session, call.me.user_id) if modified > since or since == 0 else []
    body: Payload = {"lastModified": modified, "ignoredArticles": shapes.IGNORED_ARTICLES}
    return {"indexes": {**body, "index": shapes.indexes(rows, id3=False)}}


@endpoint("getArtists")
async def get_artists(call: Call) -> Payload:
    """Every artist with albums (or tracks without one), by index letter."""
    check_folder(call)
    async with call.session() as session:
        rows = await repo.index_artists(session, call.me.user_id)
    return {"artists": {"ignoredArticles": shapes.IGNORED_ARTICLES, "index": shapes.indexes(rows, id3=True)}}


@endpoint("getMusicDirectory")
async def get_music_directory(call: Call) -> Payload:
    """A folder: the library (``1``: its artists), an artist (``ar-``: albums, and tracks without one), an album
    (``al-``: its songs)."""
    raw = call.params.require("id")
    user = call.me.user_id
    async with call.session() as session:
        if raw == str(MUSIC_FOLDER["id"]):
            artists = sorted(await repo.index_artists(session, user), key=lambda r: shapes.sort_name(r.name))
            children = [
                {"id": ids.artist(a.id), "parent": raw, "isDir": True, "title": a.name, "artist": a.name}
                for a in artists
            ]
            return {"directory": {"id": raw, "name": MUSIC_FOLDER["name"], "child": children}}
        parsed = ids.parse(raw, "ar", "al")
        assert parsed.uuid is not None
        if parsed.kind == "ar":
            found = (await repo.artists_by_ids(session, user, [parsed.uuid])).get(parsed.uuid)
            if found is None:
                raise not_found("artist")
            albums = await repo.artist_albums(session, user, parsed.uuid)
            loose = await repo.loose_songs(session, user, parsed.uuid, LOOSE_SONGS)
            children = [shapes.album_child(a) for a in albums] + [shapes.song(s) for s in loose]
            folder = {"id": raw, "parent": str(MUSIC_FOLDER["id"]), "name": found.name}
            return {"directory": {**folder, **_marks(found.starred_at, found.rating), "child": children}}
        album = (await repo.albums_by_ids(session, user, [parsed.uuid])).get(parsed.uuid)
        if album is None:
            raise not_found("album")
        songs = await repo.album_songs(session, user, parsed.uuid)
    directory: Payload = {
        "id": raw,
        "parent": ids.artist(album.artist_id),
        "name": album.title,
        "playCount": album.play_count or 0,
    }
    return {
        "directory": {**directory, **_marks(album.starred_at, album.rating), "child": [shapes.song(s) for s in songs]}
    }


def _marks(starred_at: object, rating: int | None) -> Payload:
    starred = timestamp(starred_at) if isinstance(starred_at, datetime) else None
    return shapes.compact({"starred": starred, "userRating": rating})


@endpoint("getArtist")
async def get_artist(call: Call) -> Payload:
    """An artist and their albums."""
    artist_id = ids.parse_uuid(call.params.require("id"), "ar")
    async with call.session() as session:
        found = (await repo.artists_by_ids(session, call.me.user_id, [artist_id])).get(artist_id)
        if found is None:
            raise not_found("artist")
        albums = await repo.artist_albums(session, call.me.user_id, artist_id)
    return {"artist": {**shapes.artist(found), "album": [shapes.album(a) for a in albums]}}


@endpoint("getAlbum")
async def get_album(call: Call) -> Payload:
    """An album and its songs in disc and track order."""
    album_id = ids.parse_uuid(call.params.require("id"), "al")
    async with call.session() as session:
        found = (await repo.albums_by_ids(session, call.me.user_id, [album_id])).get(album_id)
        if found is None:
            raise not_found("album")
        songs = await repo.album_songs(session, call.me.user_id, album_id)
    return {"album": {**shapes.album(found), "song": [shapes.song(s) for s in songs]}}


@endpoint("getSong")
async def get_song(call: Call) -> Payload:
    """One song (also a peer's search hit, ``rh-``, while it is remembered)."""
    parsed = ids.parse(call.params.require("id"), "tr", "rh")
    if parsed.kind == "rh":
        assert parsed.digest is not None
        return {"song": await remote.remembered_song(call, parsed.digest)}
    assert parsed.uuid is not None
    async with call.session() as session:
        found = (await repo.songs_by_ids(session, call.me.user_id, [parsed.uuid])).get(parsed.uuid)
    if found is None:
        raise not_found("song")
    return {"song": shapes.song(found)}


@endpoint("getGenres")
async def get_genres(call: Call) -> Payload:
    """Every genre with its song and album counts."""
    async with call.session() as session:
        rows = await repo.genres(session)
    return {"genres": {"genre": [{"songCount": s, "albumCount": a, "value": name} for name, s, a in rows]}}


@endpoint("getTopSongs")
async def get_top_songs(call: Call) -> Payload:
    """An artist's songs (by name), the caller's most played first."""
    name = call.params.require("artist")
    count = call.params.integer("count", 50, minimum=1, maximum=500)
    async with call.session() as session:
        artist_id = (
            await session.execute(select(Artist.id).where(func.lower(Artist.name) == name.lower()).limit(1))
        ).scalar_one_or_none()
        songs = await repo.artist_top_songs(session, call.me.user_id, artist_id, count) if artist_id else []
    return {"topSongs": {"song": [shapes.song(s) for s in songs]}}


async def _info(call: Call, kind: ids.Kind) -> None:
    parsed = ids.parse(call.params.require("id"), *((kind,) if kind == "al" else ("ar", "al", "tr")))
    if parsed.uuid is None:
        raise SubsonicError(Code.NOT_FOUND, "not found")


@endpoint("getArtistInfo")
async def get_artist_info(call: Call) -> Payload:
    """No biographies or similar artists are known here: an empty answer (every part of it is optional)."""
    await _info(call, "ar")
    return {"artistInfo": {}}


@endpoint("getArtistInfo2")
async def get_artist_info2(call: Call) -> Payload:
    """As getArtistInfo, for the ID3 view."""
    await _info(call, "ar")
    return {"artistInfo2": {}}


@endpoint("getAlbumInfo")
async def get_album_info(call: Call) -> Payload:
    """No album notes are known here: an empty answer."""
    await _info(call, "al")
    return {"albumInfo": {}}


@endpoint("getAlbumInfo2")
async def get_album_info2(call: Call) -> Payload:
    """As getAlbumInfo, for the ID3 view."""
    await _info(call, "al")
    return {"albumInfo": {}}
