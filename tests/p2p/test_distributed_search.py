"""Distributed search over real iroh endpoints on loopback: Bloom routing, hostile peers, one ranking scale,
importing a peer's result, rate limits, and what we answer to a peer's SearchQuery."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from sqlalchemy import select

from soundtime.models import Track, track_sources
from soundtime.p2p import wire
from soundtime.p2p.policy import Limits
from soundtime.p2p.transport import PeerAddress
from soundtime.search.bloom import BloomFilter
from soundtime.search.peer_filters import PeerFilters
from tests.p2p.conftest import Instance, eventually
from tests.support.api import error_code, upload
from tests.support.audio import AudioFactory, TrackSpec
from tests.support.soundtime_peer import FakeSoundTime, announcement

Fakes = Callable[..., Any]


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    """``await fakes()`` starts a SoundTime-like peer; all are closed at the end."""
    started: list[FakeSoundTime] = []

    async def start() -> FakeSoundTime:
        peer = await FakeSoundTime.start()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        await peer.close()


def address_of(instance: Instance) -> PeerAddress:
    return PeerAddress(instance.node_id, (f"127.0.0.1:{instance.node.transport.bound_ports()[0]}",))


def small_filter(*terms: str) -> wire.BloomFilterData:
    """A SoundTime-shaped filter holding ``terms`` (small, like the golden frame's)."""
    bloom = BloomFilter(bytearray(2048), 7, 2048 * 8, ((11, 12), (13, 14)))
    bloom.add_all(terms)
    return bloom.to_wire()


def item(source: str, title: str, artist: str = "Somebody", album: str | None = None, **changes: Any) -> Any:
    values: dict[str, Any] = {
        "hash": blake3(f"{title}/{artist}/{album}".encode()).hexdigest(),
        "title": title,
        "artist_name": artist,
        "album_title": album,
        "duration_secs": 201.5,
        "format": "flac",
        "genre": "Rock",
        "year": 1977,
        "bitrate": 1411,
        "source_node": source,
        "musicbrainz_id": None,
        "relevance": 0.9,
    }
    values.update(changes)
    return wire.SearchResultItem(**values)


def answering(*items: wire.SearchResultItem, request_id: str | None = None) -> Callable[[wire.SearchQuery], Any]:
    def answer(query: wire.SearchQuery) -> wire.SearchResults:
        results = list(items)
        return wire.SearchResults(request_id=request_id or query.request_id, results=results, total=len(results))

    return answer


async def connect_fake(instance: Instance, fake: FakeSoundTime, *terms: str) -> None:
    """Register the fake with the instance (it is pinged and online), then have it send a filter of ``terms``."""
    response = await instance.client.post(
        "/api/admin/p2p/peers", json={"node_id": fake.dial_address()}, headers=instance.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["reachable"] is True
    await fake.send_bloom(address_of(instance), small_filter(*terms))
    await eventually(lambda: _has_filter(instance, fake.node_id))


async def _has_filter(instance: Instance, node_id: str) -> bool:
    return instance.search.filters.received.get(node_id) is not None


async def p2p_search(instance: Instance, q: str, **params: Any) -> dict[str, Any]:
    response = await instance.client.get("/api/p2p/search", params={"q": q, **params}, headers=instance.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def titles(body: dict[str, Any]) -> list[str]:
    return [hit["title"] for hit in body["results"]]


def queries(fake: FakeSoundTime) -> list[wire.SearchQuery]:
    return [r.message for r in fake.of_type(wire.SearchQuery)]  # type: ignore[misc]


async def _upload(instance: Instance, audio: AudioFactory, tmp_path: Path, spec: TrackSpec) -> dict[str, Any]:
    path = audio.make(tmp_path / instance.name / f"{spec.title}.mp3", "mp3", spec)
    response = await upload(instance.client, instance.token, path)
    assert response.status_code == 201, response.text
    track: dict[str, Any] = response.json()["track"]
    return track


async def _track_ids(instance: Instance, digests: Iterable[str]) -> dict[str, uuid.UUID]:
    async with instance.context.db.transaction() as session:
        rows = await session.execute(select(Track.content_hash, Track.id).where(Track.content_hash.in_(list(digests))))
        return {str(digest): track_id for digest, track_id in rows}


# --- real instances ----------------------------------------------------------------------------------------------


async def test_b_finds_and_imports_a_track_uploaded_on_a(
    start_instance: Any, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a")
    track = await _upload(a, audio, tmp_path, TrackSpec(title="Bohemian Rhapsody", artist="Queen", album="Opera"))
    await a.search.filters.rebuild()  # rather than waiting for the debounced rebuild
    b = await start_instance("b", P2P_SEED_PEERS=a.dial_address())
    digest = track["content_hash"]

    # B sent A its filter on contact; A answered with its own, which holds A's words (whole words).
    held = await eventually(lambda: _has_filter(b, a.node_id))
    assert held
    assert "bohemian" in b.search.filters.received.get(a.node_id).bloom  # type: ignore[union-attr]
    assert "bohem" not in b.search.filters.received.get(a.node_id).bloom  # type: ignore[union-attr]
    replicated = (await eventually(lambda: _track_ids(b, [digest])))[digest]

    body = await p2p_search(b, "bohemian rhapsody")
    assert (body["peers_asked"], body["peers_answered"], body["peers_failed"]) == (1, 1, 0)
    [hit] = body["results"]
    assert hit["hash"] == digest
    assert hit["sources"] == [a.node_id]
    assert hit["track_id"] == str(replicated)  # held here (replicated): shown as our track
    assert hit["title"] == "Bohemian Rhapsody"
    assert hit["artist_name"] == "Queen"

    response = await b.client.get("/api/search", params={"q": "Bohemian", "include_p2p": "true"}, headers=b.headers)
    assert response.status_code == 200, response.text
    combined = response.json()
    assert [t["title"] for t in combined["tracks"]] == ["Bohemian Rhapsody"]
    assert combined["p2p"]["peers_asked"] == 1
    assert [h["track_id"] for h in combined["p2p"]["results"]] == [str(replicated)]
    plain = (await b.client.get("/api/search", params={"q": "bohemian"}, headers=b.headers)).json()
    assert plain["p2p"] is None

    # Once B no longer holds it, the hit is A's; importing it creates the track and its source again.
    deleted = await b.client.delete(f"/api/tracks/{replicated}", headers=b.headers)
    assert deleted.status_code == 204, deleted.text
    [hit] = (await p2p_search(b, "rhapsody bohemian"))["results"]
    assert (hit["hash"], hit["track_id"], hit["sources"]) == (digest, None, [a.node_id])
    imported = await b.client.post("/api/p2p/search/import", json={"hash": digest.upper()}, headers=b.headers)
    assert imported.status_code == 201, imported.text
    created = imported.json()
    assert (created["content_hash"], created["origin_node"], created["is_local"]) == (digest, a.node_id, False)
    assert created["file_size"] == track["file_size"]  # probed from A
    assert created["stream_url"] == f"/api/tracks/{created['id']}/stream"
    async with b.context.db.transaction() as session:
        sources = (await session.execute(select(track_sources.c.node_id, track_sources.c.is_origin))).all()
    assert sources == [(a.node_id, True)]
    again = await b.client.post("/api/p2p/search/import", json={"hash": digest}, headers=b.headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == created["id"]


async def test_our_filter_follows_the_library_and_reaches_peers(
    start_instance: Any, fakes: Fakes, audio: AudioFactory, tmp_path: Path
) -> None:
    a = await start_instance("a")
    # (the round below comes at once, not 5 minutes later: the same filter may go again at once too)
    timings = replace(a.node.policy.timings, filter_rebuild_delay=0.01, filter_broadcast_interval=0.0)
    a.node.policy.timings = replace(timings, filter_resend_interval=0.0)
    first = await _upload(a, audio, tmp_path, TrackSpec(title="Xylophone Sonata", artist="Vibes", album="Mallets"))
    await eventually(lambda: _own_has(a, "xylophone"))
    fake = await fakes()
    await connect_fake(a, fake, "anything")

    # Sent on contact (after the Pong), bit-compatible: the fake reads it as SoundTime would.
    def received_filters() -> list[BloomFilter]:
        return [BloomFilter.from_wire(r.message.bloom) for r in fake.of_type(wire.BloomExchange)]  # type: ignore[attr-defined]

    await eventually(lambda: _async(bool(received_filters())))
    sent = received_filters()[-1]
    assert all(term in sent for term in ["xylophone", "sonata", "vibes", "mallets"])
    assert "piano" not in sent
    assert (sent.size, sent.num_hashes) == (119_814, 7)

    # An upload reaches the peers' copy without a rebuild per row; the keys change at every rebuild.
    keys, rebuilds = a.search.filters.own.sip_keys, a.search.filters.rebuilds  # type: ignore[union-attr]
    await _upload(a, audio, tmp_path, TrackSpec(title="Piano Nocturne", artist="Keys", frequency=500.0))
    await eventually(lambda: _async(any("nocturne" in f for f in received_filters())))
    assert a.search.filters.own.sip_keys != keys  # type: ignore[union-attr]
    assert a.search.filters.rebuilds > rebuilds

    # A deletion takes the words out again.
    deleted = await a.client.delete(f"/api/tracks/{first['id']}", headers=a.headers)
    assert deleted.status_code == 204
    await eventually(lambda: _async("xylophone" not in a.search.filters.own))  # type: ignore[operator]
    assert "nocturne" in a.search.filters.own  # type: ignore[operator]

    # The round sends it again (every 5 minutes), even unchanged.
    count = len(received_filters())
    await a.node.contacts.run_round()
    await eventually(lambda: _async(len(received_filters()) > count))


async def _async(value: Any) -> Any:
    return value


async def _own_has(instance: Instance, term: str) -> bool:
    own = instance.search.filters.own
    return own is not None and term in own


# --- routing ----------------------------------------------------------------------------------------------------


async def test_only_peers_whose_filter_has_every_word_are_asked(start_instance: Any, fakes: Fakes) -> None:
    b = await start_instance("b")
    rock, jazz = await fakes(), await fakes()
    rock.answer_search = answering(item(rock.node_id, "Queen Rock Anthem", "Queen"))
    jazz.answer_search = answering(item(jazz.node_id, "Queen of Jazz", "Ella"))
    await connect_fake(b, rock, "queen", "rock", "anthem")
    await connect_fake(b, jazz, "queen", "of", "jazz", "ella")

    body = await p2p_search(b, "queen rock")
    assert titles(body) == ["Queen Rock Anthem"]
    assert (body["peers_asked"], body["peers_answered"]) == (1, 1)
    assert len(queries(rock)) == 1
    assert queries(jazz) == []
    query = queries(rock)[0]
    assert (query.query, query.limit) == ("queen rock", 20)
    assert uuid.UUID(query.request_id).version == 4

    body = await p2p_search(b, "QUEEN", limit=5)
    assert sorted(titles(body)) == ["Queen Rock Anthem", "Queen of Jazz"]
    assert (len(queries(rock)), len(queries(jazz))) == (2, 1)
    assert queries(jazz)[0].limit == 5

    # Words no filter holds, and prefixes (filters hold whole words): nobody is asked.
    for text in ["polka", "que", "queen polka"]:
        body = await p2p_search(b, text)
        assert body["peers_asked"] == 0
    assert (len(queries(rock)), len(queries(jazz))) == (2, 1)
    # A query without terms (one-byte words only) goes to every peer with a filter.
    assert (await p2p_search(b, "a"))["peers_asked"] == 2
    assert (len(queries(rock)), len(queries(jazz))) == (3, 2)


async def test_poisoned_filters_are_rejected_without_harm(start_instance: Any, fakes: Fakes) -> None:
    b = await start_instance("b")
    fake = await fakes()
    fake.answer_search = answering(item(fake.node_id, "Queen Song", "Queen"))
    response = await b.client.post("/api/admin/p2p/peers", json={"node_id": fake.dial_address()}, headers=b.headers)
    assert response.json()["reachable"] is True
    keys = ((1, 2), (3, 4))
    poisoned = [
        wire.BloomFilterData(b"\xff" * 16, 3, 0, keys, 1),  # no bits
        wire.BloomFilterData(b"\xff" * 16, 3, 129, keys, 1),  # more bits than the bitmap
        wire.BloomFilterData(b"\xff" * 16, 0, 128, keys, 1),  # no hashes
        wire.BloomFilterData(b"\xff" * 16, 33, 128, keys, 1),  # too many hashes
        wire.BloomFilterData(bytes((1 << 20) + 1), 3, 8, keys, 1),  # over 1 MiB
    ]
    for data in poisoned:
        await fake.send_bloom(address_of(b), data)
    await eventually(lambda: _async(b.search.filters.rejected == len(poisoned)))

    assert fake.node_id not in b.search.filters.received
    body = await p2p_search(b, "queen")  # no 500, and the peer is not asked on the strength of a bad filter
    assert (body["results"], body["peers_asked"]) == ([], 0)
    assert queries(fake) == []

    # Nothing else was disturbed: the connection still works and a valid filter routes searches.
    await fake.send_bloom(address_of(b), small_filter("queen", "song"))
    await eventually(lambda: _has_filter(b, fake.node_id))
    assert titles(await p2p_search(b, "queen song")) == ["Queen Song"]
    # A bad filter later does not replace the good one.
    await fake.send_bloom(address_of(b), poisoned[0])
    await eventually(lambda: _async(b.search.filters.rejected == len(poisoned) + 1))
    assert titles(await p2p_search(b, "queen")) == ["Queen Song"]


async def test_filters_expire_when_not_refreshed(start_instance: Any, fakes: Fakes) -> None:
    b = await start_instance("b")
    now = [0.0]
    b.search.filters.received = PeerFilters(clock=lambda: now[0])
    fake = await fakes()
    fake.answer_search = answering(item(fake.node_id, "Queen Song", "Queen"))
    await connect_fake(b, fake, "queen")
    assert titles(await p2p_search(b, "queen")) == ["Queen Song"]

    now[0] += 14 * 60
    assert (await p2p_search(b, "queen"))["peers_asked"] == 1
    now[0] += 2 * 60  # 16 minutes without a refresh
    assert (await p2p_search(b, "queen"))["peers_asked"] == 0
    assert len(queries(fake)) == 2

    await fake.send_bloom(address_of(b), small_filter("queen"))  # refreshed: routed again
    await eventually(lambda: _has_filter(b, fake.node_id))
    assert (await p2p_search(b, "queen"))["peers_asked"] == 1


async def test_blocked_peers_are_never_asked(start_instance: Any, fakes: Fakes) -> None:
    b = await start_instance("b")
    good, bad = await fakes(), await fakes()
    good.answer_search = answering(item(good.node_id, "Queen Good", "Queen"))
    bad.answer_search = answering(item(bad.node_id, "Queen Bad", "Queen"))
    await connect_fake(b, good, "queen")
    await connect_fake(b, bad, "queen")
    assert sorted(titles(await p2p_search(b, "queen"))) == ["Queen Bad", "Queen Good"]

    response = await b.client.post("/api/admin/blocked-domains", json={"domain": bad.node_id}, headers=b.headers)
    assert response.status_code == 201, response.text
    assert bad.node_id not in b.search.filters.received  # dropped at once
    asked_before = len(queries(bad))
    body = await p2p_search(b, "queen")
    assert titles(body) == ["Queen Good"]
    assert body["peers_asked"] == 1
    assert len(queries(bad)) == asked_before
    # Its filters are refused, and a good peer cannot name it as a source either.
    good.answer_search = answering(item(bad.node_id, "Queen Relayed", "Queen"), item(good.node_id, "Queen Good"))
    assert titles(await p2p_search(b, "queen")) == ["Queen Good"]


# --- hostile answers ----------------------------------------------------------------------------------------------


async def test_hostile_results_are_dropped(start_instance: Any, fakes: Fakes) -> None:
    b = await start_instance("b")
    liar, honest, other = await fakes(), await fakes(), await fakes()
    await connect_fake(b, other, "unrelated")  # a known peer that honest may name as a source
    liar.answer_search = answering(item(liar.node_id, "Queen Forged"), request_id=str(uuid.uuid4()))
    stranger = blake3(b"stranger").hexdigest()
    valid = item(honest.node_id, "Queen Valid")
    relayed = item(other.node_id, "Queen Relayed")  # a known peer as the source: kept
    honest.answer_search = answering(
        valid,
        relayed,
        item(honest.node_id, "Queen Bad Hash", hash="not-a-hash"),
        item(honest.node_id, "Queen Upper Hash", hash=valid.hash.upper()),
        item(stranger, "Queen Stranger"),  # a source nobody knows
        item("Z" * 64, "Queen Bad Source"),
        item(b.node_id, "Queen Claims B"),  # B does not hold it
        item(honest.node_id, "Queen " + "x" * 300),
        item(honest.node_id, "Queen Negative", duration_secs=-1.0),
        item(honest.node_id, "Queen Ancient", year=-5),
        item(honest.node_id, "Queen Odd Format", format="fl ac"),
        item(honest.node_id, "Totally Unrelated"),  # does not match the query: a peer cannot inject it
        item(honest.node_id, " ", artist="Queen"),  # an empty title
    )
    await connect_fake(b, liar, "queen")
    await connect_fake(b, honest, "queen")

    body = await p2p_search(b, "queen")
    # odd descriptions are repaired, not dropped
    long_title = "Queen " + "x" * (255 - 6)
    assert sorted(titles(body)) == sorted(
        ["Queen Relayed", "Queen Valid", long_title, "Queen Negative", "Queen Ancient", "Untitled"]
    )
    assert (body["peers_asked"], body["peers_answered"], body["peers_failed"]) == (2, 1, 1)
    by_title = {hit["title"]: hit for hit in body["results"]}
    assert (by_title["Queen Ancient"]["year"], by_title["Queen Negative"]["duration_secs"]) == (None, 0.0)
    assert by_title["Untitled"]["artist_name"] == "Queen"
    assert by_title["Queen Relayed"]["sources"] == [other.node_id]
    assert by_title["Queen Valid"]["sources"] == [honest.node_id]

    # At most `limit` items are read from one answer.
    many = [item(honest.node_id, f"Queen Number {i}") for i in range(30)]
    honest.answer_search = answering(*many)
    body = await p2p_search(b, "queen", limit=7)
    assert titles(body) == sorted((f"Queen Number {i}" for i in range(7)), key=str.casefold)


async def test_one_scale_and_one_item_per_hash(
    start_instance: Any, fakes: Fakes, audio: AudioFactory, tmp_path: Path
) -> None:
    b = await start_instance("b")
    killer = await _upload(b, audio, tmp_path, TrackSpec(title="Killer Queen", artist="Mercury", album="Sheer"))
    other = await _upload(
        b, audio, tmp_path, TrackSpec(title="Other Song", artist="Nobody", album="Queen Collection", frequency=500.0)
    )
    one, two = await fakes(), await fakes()
    hearts = item(one.node_id, "Queen of Hearts", "Somebody", "Cards", relevance=0.0001)
    weak = item(one.node_id, "Zzz", "Somebody", "Queen Mix", relevance=1000.0)  # a peer's own score is ignored
    ours = item(one.node_id, "Killer Queen (Peer Title)", "Someone Else", hash=killer["content_hash"])
    one.answer_search = answering(hearts, weak, ours)
    two.answer_search = answering(item(two.node_id, "Queen of Hearts", "Somebody", "Cards", hash=hearts.hash))
    await connect_fake(b, one, "queen")
    await connect_fake(b, two, "queen")

    body = await p2p_search(b, "queen")
    hits = {hit["title"]: hit for hit in body["results"]}
    assert set(hits) == {"Killer Queen", "Queen of Hearts", "Other Song", "Zzz"}
    # Our copy of a hash shows as ours (our metadata, our id), with the peers offering it.
    assert hits["Killer Queen"]["track_id"] == killer["id"]
    assert hits["Killer Queen"]["sources"] == [one.node_id]
    assert hits["Other Song"]["track_id"] == other["id"]
    assert hits["Other Song"]["sources"] == []
    # Several peers offering one hash: one item with all its sources.
    assert hits["Queen of Hearts"]["sources"] == sorted([one.node_id, two.node_id])
    assert hits["Queen of Hearts"]["track_id"] is None
    # One scale: title matches (weight A) over album matches (weight C), local or remote alike.
    order = titles(body)
    assert order.index("Killer Queen") < order.index("Zzz")  # strong local over weak remote
    assert order.index("Queen of Hearts") < order.index("Other Song")  # strong remote over weak local
    assert hits["Zzz"]["relevance"] == hits["Other Song"]["relevance"]
    assert hits["Queen of Hearts"]["relevance"] == hits["Killer Queen"]["relevance"]
    relevance = [hit["relevance"] for hit in body["results"]]
    assert relevance == sorted(relevance, reverse=True)

    # /api/search keeps its local answer and adds the merged one.
    response = await b.client.get("/api/search", params={"q": "queen", "include_p2p": True}, headers=b.headers)
    combined = response.json()
    assert [t["title"] for t in combined["tracks"]] == ["Killer Queen", "Other Song"]
    assert [h["title"] for h in combined["p2p"]["results"]] == order


# --- import ------------------------------------------------------------------------------------------------------


async def test_import_a_result_offered_by_two_peers(start_instance: Any, fakes: Fakes) -> None:
    b = await start_instance("b")
    one, two = await fakes(), await fakes()
    audio_bytes = b"ID3" + bytes(range(256)) * 40
    digest = blake3(audio_bytes).hexdigest()
    missing = item(one.node_id, "Radio Silence", "Queen")  # found, but no source has its bytes
    for fake in (one, two):
        fake.blobs[digest] = audio_bytes
        gaga = item(fake.node_id, "Radio Gaga", "Queen", "The Works", hash=digest)
        fake.answer_search = answering(gaga, missing) if fake is one else answering(gaga)
        await connect_fake(b, fake, "radio", "gaga", "silence")

    unknown = await b.client.post("/api/p2p/search/import", json={"hash": digest}, headers=b.headers)
    assert unknown.status_code == 404
    assert error_code(unknown) == "unknown_result"
    invalid = await b.client.post("/api/p2p/search/import", json={"hash": "xyz"}, headers=b.headers)
    assert invalid.status_code == 422

    [hit] = (await p2p_search(b, "radio gaga"))["results"]
    assert (hit["track_id"], hit["sources"]) == (None, sorted([one.node_id, two.node_id]))
    response = await b.client.post("/api/p2p/search/import", json={"hash": digest}, headers=b.headers)
    assert response.status_code == 201, response.text
    track = response.json()
    assert (track["title"], track["artist"]["name"], track["album"]["title"]) == ("Radio Gaga", "Queen", "The Works")
    assert (track["file_size"], track["format"], track["bitrate_kbps"]) == (len(audio_bytes), "flac", 1411)
    assert track["origin_node"] in (one.node_id, two.node_id)
    async with b.context.db.transaction() as session:
        sources = (await session.execute(select(track_sources.c.node_id, track_sources.c.is_origin))).all()
    assert sorted(sources) == sorted((fake.node_id, track["origin_node"] == fake.node_id) for fake in (one, two))
    [hit] = (await p2p_search(b, "radio gaga"))["results"]
    assert hit["track_id"] == track["id"]

    # No source has the bytes: a 503, nothing created.
    assert "Radio Silence" in titles(await p2p_search(b, "radio silence"))
    failed = await b.client.post("/api/p2p/search/import", json={"hash": missing.hash}, headers=b.headers)
    assert failed.status_code == 503
    assert error_code(failed) == "no_source"
    assert await _track_ids(b, [missing.hash]) == {}


# --- limits --------------------------------------------------------------------------------------------------------


async def test_searches_across_peers_are_rate_limited_per_user(start_instance: Any) -> None:
    b = await start_instance("b")
    for _ in range(Limits.searches_per_minute):
        assert (await b.client.get("/api/p2p/search", params={"q": "x1"}, headers=b.headers)).status_code == 200
    limited = await b.client.get("/api/p2p/search", params={"q": "x1"}, headers=b.headers)
    assert limited.status_code == 429
    assert error_code(limited) == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    also = await b.client.get("/api/search", params={"q": "x1", "include_p2p": True}, headers=b.headers)
    assert also.status_code == 429
    # Local search is not limited; other users have their own budget; anonymous callers get nothing.
    assert (await b.client.get("/api/search", params={"q": "x1"}, headers=b.headers)).status_code == 200
    anonymous = await b.client.get("/api/p2p/search", params={"q": "x1"})
    assert anonymous.status_code == 401


# --- what we answer ------------------------------------------------------------------------------------------------


async def test_our_answers_name_the_source_that_can_serve(
    start_instance: Any, fakes: Fakes, audio: AudioFactory, tmp_path: Path
) -> None:
    fake = await fakes()
    cached_bytes = b"cached audio" * 100
    fake.catalog = [
        announcement(fake.node_id, 1, title="Queen Remote"),
        announcement(fake.node_id, 2, title="Queen Cached", hash=blake3(cached_bytes).hexdigest()),
    ]
    a = await start_instance("a", P2P_SEED_PEERS=fake.dial_address())
    await _upload(a, audio, tmp_path, TrackSpec(title="Queen Own", artist="Us"))
    await eventually(lambda: _async_count(a, 3))
    writer = a.node.cache.store.writer()
    writer.write(cached_bytes)
    assert await a.node.cache.admit(writer.finish())

    async def ask(text: str, limit: int = 50) -> dict[str, str]:
        request = wire.SearchQuery(request_id=str(uuid.uuid4()), query=text, limit=limit)
        reply = wire.decode_frame(await fake.call(address_of(a), wire.encode_frame(request)))
        assert isinstance(reply, wire.SearchResults)
        assert reply.request_id == request.request_id
        assert reply.total == len(reply.results)
        return {hit.title: hit.source_node for hit in reply.results}

    assert await ask("queen") == {"Queen Own": a.node_id, "Queen Cached": a.node_id, "Queen Remote": fake.node_id}
    a.node.policy.serve_cache = False
    assert (await ask("queen"))["Queen Cached"] == fake.node_id
    assert await ask("queen", limit=0) == {}
    assert len(await ask("queen", limit=2)) == 2


async def _async_count(instance: Instance, count: int) -> bool:
    response = await instance.client.get("/api/tracks", params={"limit": 100}, headers=instance.headers)
    return len(response.json()["items"]) >= count
