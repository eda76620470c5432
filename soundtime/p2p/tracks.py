"""The one track projection (:class:`~soundtime.library.facts.TrackFacts`) on the wire: announcements and search
hits made from it, and read back into it. The wire names the bitrate ``bitrate``; everything else keeps its name."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from soundtime.library.facts import FIELDS, SUMMARY, TrackFacts, summary
from soundtime.p2p.wire import SearchResultItem, TrackAnnouncement

#: Projection field -> wire field, where the names differ.
_RENAMED = {"bitrate_kbps": "bitrate"}


#: The facts of a track in :data:`FIELDS` order, as :func:`announcement_of` reads them.
_facts_in_order = operator.attrgetter(*FIELDS)


def _on_wire(fields: dict[str, Any]) -> dict[str, Any]:
    return {_RENAMED.get(name, name): value for name, value in fields.items()}


def announcement(facts: TrackFacts, origin: str) -> TrackAnnouncement:
    """The announcement of a track held by ``origin``."""
    return announcement_of(_facts_in_order(facts), origin)


def announcement_of(facts: Sequence[Any], origin: str) -> TrackAnnouncement:
    """The announcement of a track held by ``origin`` whose facts are given in :class:`TrackFacts` field order
    (:data:`FIELDS`; later items are ignored): a catalog push makes thousands, from rows, without building facts."""
    return TrackAnnouncement(
        hash=facts[0],
        title=facts[1],
        artist_name=facts[2],
        album_title=facts[3],
        duration_secs=facts[4],
        format=facts[5],
        genre=facts[6],
        year=facts[7],
        bitrate=facts[8],
        file_size=facts[9],
        album_artist_name=facts[10],
        track_number=facts[11],
        disc_number=facts[12],
        sample_rate=facts[13],
        origin_node=origin,
        cover_hash=facts[14],
    )


def search_item(facts: TrackFacts, source: str, relevance: float) -> SearchResultItem:
    """A search hit whose bytes ``source`` serves."""
    return SearchResultItem(**_on_wire(summary(facts)), source_node=source, musicbrainz_id=None, relevance=relevance)


def facts_of_item(item: SearchResultItem, *, file_size: int = 0) -> TrackFacts:
    """The facts of a peer's search hit (its format lower-cased, as we store formats)."""
    fields = {name: getattr(item, _RENAMED.get(name, name)) for name in SUMMARY}
    fields["format"] = item.format.lower()
    return TrackFacts(**fields, file_size=file_size)
