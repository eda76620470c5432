"""Rows as the elements Subsonic clients parse: ``Child`` (songs, and albums/artists in the folder view),
``AlbumID3``, ``ArtistID3``, ``Playlist``. Attribute names and types follow the Subsonic XSD and OpenSubsonic."""

from __future__ import annotations

from typing import Any

from soundtime.models.library import IGNORED_ARTICLES
from soundtime.streaming.service import audio_type
from soundtime.subsonic import ids
from soundtime.subsonic.render import timestamp
from soundtime.subsonic.repository import AlbumRow, ArtistRow, SongRow

#: File suffix of each stored format (``suffix`` tells clients what they will receive with format=raw).
SUFFIX = {
    "aac": "aac",
    "aiff": "aiff",
    "flac": "flac",
    "m4a": "m4a",
    "mp3": "mp3",
    "ogg": "ogg",
    "opus": "opus",
    "wav": "wav",
}
__all__ = ["IGNORED_ARTICLES"]
_ARTICLES = tuple(f"{article.lower()} " for article in IGNORED_ARTICLES.split())


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """The dict without its None values."""
    return {key: value for key, value in values.items() if value is not None}


def _when(value: Any) -> str | None:
    return timestamp(value) if value is not None else None


def _path(row: SongRow) -> str:
    """A path-like name for clients that show or sort by one (there is no real file tree)."""
    artist = (row.album_artist_name or row.artist_name).replace("/", "_")
    album = (row.album_title or "Unknown album").replace("/", "_")
    number = f"{row.track_number:02d} - " if row.track_number else ""
    return f"{artist}/{album}/{number}{row.title.replace('/', '_')}.{SUFFIX.get(row.format, row.format)}"


def song(row: SongRow, *, element_parent: str | None = None) -> dict[str, Any]:
    """A track as a ``Child`` (``parent``: its album, or its artist's folder when it has none)."""
    parent = element_parent or (ids.album(row.album_id) if row.album_id else ids.artist(row.artist_id))
    return compact(
        {
            "id": ids.track(row.id),
            "parent": parent,
            "isDir": False,
            "title": row.title,
            "album": row.album_title,
            "artist": row.artist_name,
            "track": row.track_number,
            "year": row.year,
            "genre": row.genre,
            "coverArt": ids.album(row.album_id) if row.album_id and row.has_cover else None,
            "size": row.file_size,
            "contentType": audio_type(row.format),
            "suffix": SUFFIX.get(row.format, row.format),
            "duration": round(row.duration_secs),
            "bitRate": row.bitrate_kbps,
            "path": _path(row),
            "isVideo": False,
            "userRating": row.rating,
            "playCount": row.play_count or 0,
            "discNumber": row.disc_number,
            "created": timestamp(row.created_at),
            "starred": _when(row.starred_at),
            "albumId": ids.album(row.album_id) if row.album_id else None,
            "artistId": ids.artist(row.artist_id),
            "type": "music",
            "mediaType": "song",
            "samplingRate": row.sample_rate,
            "channelCount": row.channels,
            "played": _when(row.last_played_at),
            "displayArtist": row.artist_name,
            "displayAlbumArtist": row.album_artist_name or "",
        }
    )


def album(row: AlbumRow) -> dict[str, Any]:
    """An album as an ``AlbumID3``."""
    return compact(
        {
            "id": ids.album(row.id),
            "name": row.title,
            "artist": row.artist_name,
            "artistId": ids.artist(row.artist_id),
            "coverArt": ids.album(row.id) if row.has_cover else None,
            "songCount": row.song_count,
            "duration": round(row.duration_secs),
            "playCount": row.play_count or 0,
            "created": timestamp(row.created_at),
            "starred": _when(row.starred_at),
            "year": row.year,
            "genre": row.genre,
            "played": _when(row.last_played_at),
            "userRating": row.rating,
            "displayArtist": row.artist_name,
        }
    )


def album_child(row: AlbumRow) -> dict[str, Any]:
    """An album as a ``Child`` directory (getMusicDirectory, getAlbumList, search2, getStarred)."""
    return compact(
        {
            "id": ids.album(row.id),
            "parent": ids.artist(row.artist_id),
            "isDir": True,
            "title": row.title,
            "album": row.title,
            "artist": row.artist_name,
            "year": row.year,
            "genre": row.genre,
            "coverArt": ids.album(row.id) if row.has_cover else None,
            "duration": round(row.duration_secs),
            "userRating": row.rating,
            "playCount": row.play_count or 0,
            "created": timestamp(row.created_at),
            "starred": _when(row.starred_at),
            "albumId": ids.album(row.id),
            "artistId": ids.artist(row.artist_id),
            "isVideo": False,
            "mediaType": "album",
            "played": _when(row.last_played_at),
        }
    )


def artist(row: ArtistRow) -> dict[str, Any]:
    """An artist as an ``ArtistID3``."""
    return compact(
        {
            "id": ids.artist(row.id),
            "name": row.name,
            "coverArt": ids.artist(row.id) if row.has_cover else None,
            "albumCount": row.album_count,
            "starred": _when(row.starred_at),
        }
    )


def folder_artist(row: ArtistRow) -> dict[str, Any]:
    """An artist as an ``Artist`` of the folder view (getIndexes, search2, getStarred)."""
    return compact(
        {"id": ids.artist(row.id), "name": row.name, "starred": _when(row.starred_at), "userRating": row.rating}
    )


def sort_name(name: str) -> str:
    """The name without a leading article, case-folded (how artists are sorted and indexed)."""
    folded = name.casefold()
    for article in _ARTICLES:
        if folded.startswith(article) and len(folded) > len(article):
            return folded[len(article) :]
    return folded


def index_letter(name: str) -> str:
    """The index an artist is listed under: the first letter of its sort name, or ``#``."""
    first = sort_name(name)[:1]
    return first.upper() if first.isalpha() else "#"


def indexes(rows: list[ArtistRow], *, id3: bool) -> list[dict[str, Any]]:
    """Artists grouped by index letter (``#`` first, then letters), each group sorted by name."""
    groups: dict[str, list[ArtistRow]] = {}
    for row in sorted(rows, key=lambda r: (sort_name(r.name), r.name, r.id)):
        groups.setdefault(index_letter(row.name), []).append(row)
    shape = artist if id3 else folder_artist
    return [{"name": letter, "artist": [shape(r) for r in groups[letter]]} for letter in sorted(groups)]
