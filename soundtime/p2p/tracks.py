"""The one track projection (:class:`~soundtime.library.facts.TrackFacts`) on the wire: announcements and search
hits made from it, and read back into it. The wire names the bitrate ``bitrate``; everything else keeps its name."""

from __future__ import annotations

from typing import Any

from soundtime.library.facts import SUMMARY, TrackFacts, summary
from soundtime.p2p.wire import SearchResultItem, TrackAnnouncement

#: Projection field -> wire field, where the names differ.
_RENAMED = {"bitrate_kbps": "bitrate"}


def _on_wire(fields: dict[str, Any]) -> dict[str, Any]:
    return {_RENAMED.get(name, name): value for name, value in fields.items()}


def announcement(facts: TrackFacts, origin: str) -> TrackAnnouncement:
    """The announcement of a track held by ``origin`` (field by field: a catalog push makes thousands)."""
    return TrackAnnouncement(
        hash=facts.hash,
        title=facts.title,
        artist_name=facts.artist_name,
        album_artist_name=facts.album_artist_name,
        album_title=facts.album_title,
        duration_secs=facts.duration_secs,
        format=facts.format,
        file_size=facts.file_size,
        genre=facts.genre,
        year=facts.year,
        track_number=facts.track_number,
        disc_number=facts.disc_number,
        bitrate=facts.bitrate_kbps,
        sample_rate=facts.sample_rate,
        origin_node=origin,
        cover_hash=facts.cover_hash,
    )


def search_item(facts: TrackFacts, source: str, relevance: float) -> SearchResultItem:
    """A search hit whose bytes ``source`` serves."""
    return SearchResultItem(**_on_wire(summary(facts)), source_node=source, musicbrainz_id=None, relevance=relevance)


def facts_of_item(item: SearchResultItem, *, file_size: int = 0) -> TrackFacts:
    """The facts of a peer's search hit (its format lower-cased, as we store formats)."""
    fields = {name: getattr(item, _RENAMED.get(name, name)) for name in SUMMARY}
    fields["format"] = item.format.lower()
    return TrackFacts(**fields, file_size=file_size)
