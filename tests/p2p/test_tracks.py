"""The one track projection and its converters: every fact reaches the wire under its wire name and comes back,
and no shape of a track carries a fact the projection does not know."""

from __future__ import annotations

import uuid

from soundtime.library.facts import FIELDS, SUMMARY, TrackFacts, facts_of_columns, summary
from soundtime.p2p import wire
from soundtime.p2p.tracks import announcement, facts_of_item, search_item
from soundtime.search.schemas import P2PTrack

ORIGIN = "b" * 64
SOURCE = "e" * 64

FACTS = TrackFacts(
    hash="5" * 64,
    title="Low Tide at Harbour Lights",
    artist_name="Marisol & the Wires",
    album_title="Harbour Lights",
    duration_secs=181.25,
    format="opus",
    genre="Folk",
    year=2019,
    bitrate_kbps=160,
    file_size=3_650_112,
    album_artist_name="Various Artists",
    track_number=4,
    disc_number=2,
    sample_rate=48000,
    cover_hash="c" * 64,
)


def _wire_name(name: str) -> str:
    return "bitrate" if name == "bitrate_kbps" else name


def test_an_announcement_carries_every_fact_through_the_codec() -> None:
    frame = wire.encode_frame(wire.AnnounceTrack(track=announcement(FACTS, ORIGIN)))
    decoded = wire.decode_frame(frame)
    assert isinstance(decoded, wire.AnnounceTrack)
    track = decoded.track
    assert track.origin_node == ORIGIN
    assert {name: getattr(track, _wire_name(name)) for name in FIELDS} == {
        name: getattr(FACTS, name) for name in FIELDS
    }


def test_a_search_item_carries_the_summary_and_reads_back() -> None:
    item = search_item(FACTS, SOURCE, 0.5)
    assert (item.source_node, item.relevance, item.musicbrainz_id) == (SOURCE, 0.5, None)
    assert facts_of_item(item, file_size=FACTS.file_size) == TrackFacts(**summary(FACTS), file_size=FACTS.file_size)


def test_a_peers_hit_is_read_with_its_format_lower_cased_and_no_size() -> None:
    item = search_item(TrackFacts(**{**summary(FACTS), "format": "OPUS"}), SOURCE, 1.0)
    facts = facts_of_item(item)
    assert facts.format == "opus"
    assert facts.file_size == 0
    assert facts.cover_hash is None


def test_no_shape_of_a_track_carries_a_fact_the_projection_lacks() -> None:
    announced = set(wire.TrackAnnouncement.__struct_fields__) - {"origin_node"}
    assert announced == {_wire_name(name) for name in FIELDS}
    found = set(wire.SearchResultItem.__struct_fields__) - {"source_node", "musicbrainz_id", "relevance"}
    assert found == {_wire_name(name) for name in SUMMARY}
    shown = set(P2PTrack.model_fields) - {"relevance", "track_id", "sources"}
    assert shown == set(SUMMARY)


def test_query_rows_labelled_like_the_projection_become_facts() -> None:
    columns = {"id": uuid.uuid4(), **{name: getattr(FACTS, name) for name in FIELDS}}
    assert facts_of_columns(columns) == FACTS
    track = P2PTrack(**summary(FACTS), relevance=1.0, track_id=None, sources=[SOURCE])
    assert track.bitrate_kbps == 160
