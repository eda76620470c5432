"""One projection of a track: the facts that describe its audio, the same whether they come from our rows, a peer's
announcement or search hit, or go out in an HTTP answer. Converters to and from the wire live with the wire
(:mod:`soundtime.p2p.tracks`); to HTTP schemas, with the schemas (``Schema(**summary(facts), ...)``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from soundtime.library.repository.rows import TrackRow

#: What every shape of a track carries (rows, announcements, search hits, HTTP answers).
SUMMARY = ("hash", "title", "artist_name", "album_title", "duration_secs", "format", "genre", "year", "bitrate_kbps")


@dataclass(frozen=True, slots=True)
class TrackFacts:
    """What describes one track's audio. ``file_size`` is 0 when unknown (a search hit carries none)."""

    hash: str
    title: str
    artist_name: str
    album_title: str | None
    duration_secs: float
    format: str
    genre: str | None = None
    year: int | None = None
    bitrate_kbps: int | None = None
    file_size: int = 0
    album_artist_name: str | None = None
    track_number: int | None = None
    disc_number: int | None = None
    sample_rate: int | None = None
    cover_hash: str | None = None


def summary(facts: TrackFacts) -> dict[str, Any]:
    """The :data:`SUMMARY` fields of ``facts`` by name."""
    return {name: getattr(facts, name) for name in SUMMARY}


def facts_of_row(row: TrackRow) -> TrackFacts:
    """The facts of a track of the library (ours or replicated)."""
    track, album = row.track, row.album
    return TrackFacts(
        hash=track.content_hash,
        title=track.title,
        artist_name=row.artist.name,
        album_title=album.title if album is not None else None,
        duration_secs=track.duration_secs,
        format=track.format,
        genre=track.genre,
        year=track.year,
        bitrate_kbps=track.bitrate_kbps,
        file_size=track.file_size,
        album_artist_name=row.album_artist.name if row.album_artist is not None else None,
        track_number=track.track_number,
        disc_number=track.disc_number,
        sample_rate=track.sample_rate,
        cover_hash=album.cover_hash if album is not None else None,
    )


#: Every field of :class:`TrackFacts`, in order.
FIELDS = tuple(field.name for field in fields(TrackFacts))


def facts_of_columns(columns: Mapping[Any, Any]) -> TrackFacts:
    """The facts of a query row whose columns are labelled with the names of :class:`TrackFacts` (extra ones are
    ignored)."""
    return TrackFacts(**{name: columns[name] for name in FIELDS})
