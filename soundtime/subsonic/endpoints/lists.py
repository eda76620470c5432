"""Album and song lists: getAlbumList / getAlbumList2 (every type), getRandomSongs, getSongsByGenre,
getStarred / getStarred2."""

from __future__ import annotations

from typing import cast, get_args

from soundtime.subsonic import repository as repo
from soundtime.subsonic import shapes
from soundtime.subsonic.endpoints.browsing import check_folder
from soundtime.subsonic.errors import Code, SubsonicError, missing
from soundtime.subsonic.registry import Call, Payload, endpoint

MAX_SIZE = 500
#: Offsets are clamped here, far beyond any library: a client paging through every album (as Symfonium does with
#: alphabeticalByName) must reach the end (a lower clamp would answer the same page again, forever). A deep offset
#: costs at most one pass over the albums or a genre's tracks: it cannot skip more rows than exist.
MAX_OFFSET = 10_000_000
#: getStarred answers at most this many items of each kind.
MAX_STARRED = 5000
LIST_TYPES: tuple[str, ...] = get_args(repo.ListType)


async def _album_list(call: Call) -> list[repo.AlbumRow]:
    check_folder(call)
    params = call.params
    kind = params.require("type")
    if kind not in LIST_TYPES:
        raise SubsonicError(Code.GENERIC, f"unknown list type {kind[:40]!r} (one of: {', '.join(LIST_TYPES)})")
    size = params.integer("size", 10, minimum=1, maximum=MAX_SIZE)
    offset = params.integer("offset", 0, minimum=0, maximum=MAX_OFFSET)
    from_year = to_year = None
    genre = None
    if kind == "byYear":
        from_year, to_year = params.optional_integer("fromYear"), params.optional_integer("toYear")
        if from_year is None or to_year is None:
            raise missing("fromYear" if from_year is None else "toYear")
    if kind == "byGenre":
        genre = params.require("genre")
    async with call.session() as session:
        return await repo.album_list(
            session,
            call.me.user_id,
            cast(repo.ListType, kind),
            size,
            offset,
            from_year=from_year,
            to_year=to_year,
            genre=genre,
        )


@endpoint("getAlbumList2")
async def get_album_list2(call: Call) -> Payload:
    """Albums (ID3) by ``type``: random, newest, highest, frequent, recent, alphabeticalByName,
    alphabeticalByArtist, starred, byYear (fromYear, toYear; reversed when fromYear > toYear), byGenre (genre)."""
    return {"albumList2": {"album": [shapes.album(a) for a in await _album_list(call)]}}


@endpoint("getAlbumList")
async def get_album_list(call: Call) -> Payload:
    """As getAlbumList2, albums as folder-view directories."""
    return {"albumList": {"album": [shapes.album_child(a) for a in await _album_list(call)]}}


@endpoint("getRandomSongs")
async def get_random_songs(call: Call) -> Payload:
    """``size`` random songs (default 10, at most 500), optionally of a genre and between two years."""
    check_folder(call)
    params = call.params
    size = params.integer("size", 10, minimum=1, maximum=MAX_SIZE)
    async with call.session() as session:
        songs = await repo.random_songs(
            session,
            call.me.user_id,
            size,
            genre=params.get("genre"),
            from_year=params.optional_integer("fromYear"),
            to_year=params.optional_integer("toYear"),
        )
    return {"randomSongs": {"song": [shapes.song(s) for s in songs]}}


@endpoint("getSongsByGenre")
async def get_songs_by_genre(call: Call) -> Payload:
    """Songs of a genre, paged by ``count`` (default 10, at most 500) and ``offset``."""
    check_folder(call)
    params = call.params
    genre = params.require("genre")
    count = params.integer("count", 10, minimum=1, maximum=MAX_SIZE)
    offset = params.integer("offset", 0, minimum=0, maximum=MAX_OFFSET)
    async with call.session() as session:
        songs = await repo.songs_by_genre(session, call.me.user_id, genre, count, offset)
    return {"songsByGenre": {"song": [shapes.song(s) for s in songs]}}


async def _starred(call: Call) -> tuple[list[repo.ArtistRow], list[repo.AlbumRow], list[repo.SongRow]]:
    check_folder(call)
    user = call.me.user_id
    async with call.session() as session:
        artists = await repo.starred_artists(session, user, MAX_STARRED)
        albums = await repo.starred_albums(session, user, MAX_STARRED)
        songs = await repo.starred_songs(session, user, MAX_STARRED)
    return artists, albums, songs


@endpoint("getStarred2")
async def get_starred2(call: Call) -> Payload:
    """The caller's starred artists, albums and songs (ID3), most recently starred first."""
    artists, albums, songs = await _starred(call)
    return {
        "starred2": {
            "artist": [shapes.artist(a) for a in artists],
            "album": [shapes.album(a) for a in albums],
            "song": [shapes.song(s) for s in songs],
        }
    }


@endpoint("getStarred")
async def get_starred(call: Call) -> Payload:
    """As getStarred2, in the folder view's shapes."""
    artists, albums, songs = await _starred(call)
    return {
        "starred": {
            "artist": [shapes.folder_artist(a) for a in artists],
            "album": [shapes.album_child(a) for a in albums],
            "song": [shapes.song(s) for s in songs],
        }
    }
