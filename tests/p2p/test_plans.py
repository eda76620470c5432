"""The pure planners of federation, checked on their own: no database, no sockets, no tasks."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soundtime.p2p import wire
from soundtime.p2p.plans.learning import choose_new, read_peer_list
from soundtime.p2p.plans.pushes import PushQueue, Request
from soundtime.p2p.plans.schedule import retry_delay, rotate
from soundtime.p2p.plans.sources import (
    RemoteTrack,
    SourceRow,
    SourceWalk,
    copy_score,
    playable_sources,
    rank_sources,
)
from soundtime.p2p.plans.transfer import TransferState
from soundtime.p2p.policy import Limits
from soundtime.p2p.transport import node_id_of_secret

#: Valid node ids (Ed25519 public keys), made from fixed secret keys.
KEYS = [node_id_of_secret(bytes([i + 1]) * 32) for i in range(40)]
NOT_A_KEY = "02" * 32
OWN, SENDER = KEYS[0], KEYS[1]
LIMITS = Limits()

# --- back-off and rotation ------------------------------------------------------------------------------------


def test_the_first_retry_waits_the_base_and_later_ones_double_up_to_the_cap() -> None:
    assert retry_delay(0, base=30, cap=3600, jitter=0.5) == 30
    assert retry_delay(1, base=30, cap=3600, jitter=0.5) == 60
    assert retry_delay(0, base=30, cap=3600, jitter=0.0) == 30 * 0.75
    assert retry_delay(0, base=30, cap=3600, jitter=0.999999) == pytest.approx(30 * 1.25, rel=1e-5)
    assert retry_delay(7, base=30, cap=3600, jitter=0.5) == 3600
    assert retry_delay(10_000, base=30, cap=3600, jitter=0.5) == 3600  # no overflow for absurd counts


@given(
    failures=st.integers(min_value=-5, max_value=10_000),
    base=st.floats(min_value=0.001, max_value=1e4),
    cap=st.floats(min_value=0.001, max_value=1e6),
    jitter=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_back_off_never_exceeds_its_cap_and_never_shrinks(
    failures: int, base: float, cap: float, jitter: float
) -> None:
    delay = retry_delay(failures, base=base, cap=cap, jitter=jitter)
    assert min(base, cap) * 0.75 <= delay * (1 + 1e-9)
    assert delay <= cap * 1.25 * (1 + 1e-9)  # the cap, and at most its jitter
    assert delay <= retry_delay(failures + 1, base=base, cap=cap, jitter=jitter) * (1 + 1e-9)


@given(
    candidates=st.lists(st.sampled_from(KEYS), unique=True, max_size=20),
    cursor=st.integers(min_value=0, max_value=1000),
    fanout=st.integers(min_value=1, max_value=8),
)
def test_rotation_reaches_every_online_peer_in_turn(candidates: list[str], cursor: int, fanout: int) -> None:
    seen: set[str] = set()
    for _ in range(math.ceil(len(candidates) / fanout)):
        chosen, cursor = rotate(candidates, cursor, fanout)
        assert len(chosen) == min(fanout, len(candidates))
        assert len(set(chosen)) == len(chosen)
        assert set(chosen) <= set(candidates)
        seen.update(chosen)
    assert seen == set(candidates)


def test_rotation_with_nobody_online_chooses_nobody_and_keeps_its_place() -> None:
    assert rotate([], 7, 3) == ([], 7)


# --- learning from a peer list ----------------------------------------------------------------------------------


def test_a_peer_list_is_read_bounded_and_filtered() -> None:
    blocked = {KEYS[5]}
    message = wire.PeerExchange(
        peers=[OWN, SENDER, "not-an-id", NOT_A_KEY, KEYS[5], KEYS[2].upper(), KEYS[3], KEYS[2], KEYS[4]],
        addresses={
            KEYS[2].upper(): ["10.0.0.1:1", "bogus", "[::1]:2", "1.2.3.4:0", "224.0.0.1:5", "5.6.7.8:9"],
            KEYS[5]: ["10.0.0.5:5"],
            "garbage": ["10.0.0.9:9"],
        },
    )

    listed = read_peer_list(message, sender=SENDER, own_id=OWN, is_blocked=blocked.__contains__, limits=LIMITS)

    assert listed.ids == [KEYS[2], KEYS[3], KEYS[4]]  # in the list's order, once each
    assert listed.hints == {KEYS[2]: ["10.0.0.1:1", "[::1]:2"], KEYS[3]: [], KEYS[4]: []}


@given(
    listed=st.lists(st.one_of(st.sampled_from(KEYS), st.text(max_size=70)), max_size=60),
    blocked=st.sets(st.sampled_from(KEYS)),
    max_ids=st.integers(min_value=1, max_value=50),
)
def test_a_blocked_node_ourselves_or_the_sender_are_never_learned(
    listed: list[str], blocked: set[str], max_ids: int
) -> None:
    limits = replace(LIMITS, max_exchange_ids=max_ids)
    message = wire.PeerExchange(peers=listed, addresses={key: ["10.1.1.1:1"] for key in listed if key in KEYS})

    result = read_peer_list(message, sender=SENDER, own_id=OWN, is_blocked=blocked.__contains__, limits=limits)

    assert not set(result.ids) & (blocked | {OWN, SENDER})
    assert set(result.ids) <= set(listed[:max_ids]) & set(KEYS)
    assert len(result.ids) == len(set(result.ids))
    assert set(result.hints) == set(result.ids)


@given(
    ids=st.lists(st.sampled_from(KEYS), unique=True),
    known=st.sets(st.sampled_from(KEYS)),
    peer_count=st.integers(min_value=0, max_value=60),
    per_list=st.integers(min_value=0, max_value=10),
)
def test_new_peers_are_bounded_by_list_and_registry(
    ids: list[str], known: set[str], peer_count: int, per_list: int
) -> None:
    limits = replace(LIMITS, new_ids_per_list=per_list, max_learned_peers=50)

    new = choose_new(ids, known, peer_count, limits)

    assert not set(new) & known
    assert new == [node_id for node_id in ids if node_id not in known][: len(new)]  # the list's order kept
    assert len(new) <= per_list
    assert len(new) <= max(50 - peer_count, 0)


# --- push coalescing -------------------------------------------------------------------------------------------


def test_pushes_requested_while_one_runs_become_one_follow_up() -> None:
    queue = PushQueue()
    assert queue.request("p", full=False, forced=False) is Request.START
    assert "p" in queue
    assert queue.request("p", full=False, forced=False) is Request.DROPPED  # a rate-limited refresh
    assert queue.request("p", full=False, forced=True) is Request.MERGED  # an upload's delta
    assert queue.request("p", full=True, forced=True) is Request.MERGED  # a RequestCatalog: full wins
    assert queue.request("p", full=False, forced=True) is Request.MERGED
    assert queue.finished("p", cancelled=False) is True  # one full follow-up for all three
    assert "p" not in queue
    assert queue.request("p", full=False, forced=False) is Request.START
    assert queue.finished("p", cancelled=False) is None  # nothing was asked meanwhile


def test_a_cancelled_or_forgotten_push_owes_no_follow_up() -> None:
    queue = PushQueue()
    queue.request("p", full=False, forced=False)
    queue.request("p", full=True, forced=True)
    assert queue.finished("p", cancelled=True) is None
    queue.request("q", full=False, forced=False)
    queue.request("q", full=False, forced=True)
    queue.cancel("q")
    assert "q" not in queue
    assert queue.request("q", full=False, forced=False) is Request.START  # a later request starts afresh


@given(st.lists(st.tuples(st.sampled_from(["request", "finish"]), st.booleans(), st.booleans()), max_size=40))
def test_at_most_one_push_runs_per_peer_and_merged_requests_are_never_lost(
    steps: list[tuple[str, bool, bool]],
) -> None:
    queue = PushQueue()
    running = False
    owed: bool | None = None  # the follow-up the model expects: None, or whether it is full
    for action, full, forced in steps:
        if action == "request":
            outcome = queue.request("p", full=full, forced=forced)
            if not running:
                assert outcome is Request.START
                running = True
            elif full or forced:
                assert outcome is Request.MERGED
                owed = full or bool(owed)
            else:
                assert outcome is Request.DROPPED
        elif running:
            follow_up = queue.finished("p", cancelled=False)
            assert follow_up == owed
            running, owed = follow_up is not None, None
            if running:  # the owner starts the follow-up
                assert queue.request("p", full=follow_up is True, forced=True) is Request.START


# --- what a listener may read of a running transfer --------------------------------------------------------------


def test_the_last_byte_of_a_range_waits_for_the_verification() -> None:
    state = TransferState(size=100)
    assert state.readable(0, 50, 100) == 0  # nothing yet
    state.advance(60)
    assert state.readable(0, 50, 100) == 50
    assert state.readable(50, 50, 60) == 50  # [50, 60) would be complete: wait
    assert state.readable(50, 50, 100) == 60
    state.advance(40)
    assert state.readable(60, 100, 100) == 60  # everything is here but not verified
    state.verify()
    assert state.readable(60, 100, 100) == 100
    with pytest.raises(ValueError, match="exceed"):
        state.advance(1)


def test_a_blob_cannot_be_verified_before_all_of_it_arrived() -> None:
    state = TransferState(size=10)
    state.advance(9)
    with pytest.raises(ValueError, match="9 of 10"):
        state.verify()


@given(
    size=st.integers(min_value=1, max_value=10_000),
    steps=st.lists(st.tuples(st.integers(min_value=0, max_value=3000), st.integers(), st.integers()), max_size=30),
    verify=st.booleans(),
)
def test_a_transfer_never_releases_an_unverified_last_byte(
    size: int, steps: list[tuple[int, int, int]], verify: bool
) -> None:
    state = TransferState(size)
    for chunk, a, b in steps:
        state.advance(min(chunk, size - state.received))
        stop = 1 + abs(b) % size
        pos = abs(a) % stop
        end = state.readable(pos, 1 + abs(a) % 4096, stop)
        assert pos <= end <= state.received or end == pos
        assert end < stop or state.verified  # the byte that completes a range needs the verification
    if verify and state.received == size:
        state.verify()
        assert state.readable(size - 1, 10, size) == size


# --- sources -----------------------------------------------------------------------------------------------------

TRACK = RemoteTrack(uuid.uuid4(), "a" * 64, 1000, "flac", 1411, 44100)


def test_sources_are_ranked_online_first_then_by_failures_and_the_origin_first_for_a_recovery() -> None:
    sources = [
        SourceRow(KEYS[2], is_origin=True, online=False, failure_count=0),
        SourceRow(KEYS[3], is_origin=False, online=True, failure_count=2),
        SourceRow(KEYS[4], is_origin=False, online=True, failure_count=0),
    ]
    assert rank_sources(TRACK, sources) == [KEYS[4], KEYS[3], KEYS[2]]
    assert rank_sources(TRACK, sources, origin_first=True) == [KEYS[2], KEYS[4], KEYS[3]]
    assert playable_sources(TRACK, sources, {KEYS[4]}.__contains__) == [KEYS[3], KEYS[2]]


def test_a_recovery_walk_stops_at_the_first_source_offering_the_right_size() -> None:
    sources = [SourceRow(key, is_origin=i == 0, online=True, failure_count=0) for i, key in enumerate(KEYS[2:7])]
    unreachable = {KEYS[3]}
    walk = SourceWalk.of(TRACK, sources, is_blocked={KEYS[4]}.__contains__, unreachable=unreachable)

    assert walk.next() == KEYS[2]
    walk.unavailable(KEYS[2], "no answer")
    assert walk.next() == KEYS[5]  # KEYS[3] is known unreachable, KEYS[4] is blocked
    walk.offered(KEYS[5], 999)
    assert walk.next() == KEYS[6]
    walk.offered(KEYS[6], 1000)

    assert walk.next() is None
    assert walk.answered
    assert walk.results == [(KEYS[2], False), (KEYS[5], False), (KEYS[6], True)]
    assert unreachable == {KEYS[2], KEYS[3]}  # shared with the rest of the sweep


def test_a_walk_with_nobody_to_ask_says_why() -> None:
    sources = [SourceRow(KEYS[2], is_origin=True, online=True, failure_count=0)]
    walk = SourceWalk.of(TRACK, sources, is_blocked={KEYS[2]}.__contains__, unreachable=set())
    assert walk.next() is None
    assert (walk.answered, walk.error, walk.results) == (False, f"peer {KEYS[2][:16]} is blocked", [])


@given(
    order=st.permutations(KEYS[2:12]),
    blocked=st.sets(st.sampled_from(KEYS[2:12])),
    unreachable=st.sets(st.sampled_from(KEYS[2:12])),
    sizes=st.lists(st.sampled_from([None, 999, 1000]), min_size=10, max_size=10),
)
def test_a_walk_never_asks_a_blocked_or_unreachable_peer_and_keeps_the_ranking(
    order: list[str], blocked: set[str], unreachable: set[str], sizes: list[int | None]
) -> None:
    walk = SourceWalk(order, 1000, is_blocked=blocked.__contains__, unreachable=set(unreachable))
    asked: list[str] = []
    answers = dict(zip(order, sizes, strict=True))
    while (node_id := walk.next()) is not None:
        asked.append(node_id)
        size = answers[node_id]
        if size is None:
            walk.unavailable(node_id, "gone")
        else:
            walk.offered(node_id, size)
    assert not set(asked) & (blocked | unreachable)
    assert asked == [n for n in order if n in asked]  # in ranking order
    eligible = [n for n in order if n not in blocked | unreachable]
    first_good = next((n for n in eligible if answers[n] == 1000), None)
    assert walk.answered == (first_good is not None)
    assert asked == (eligible[: eligible.index(first_good) + 1] if first_good else eligible)


def test_a_copy_scores_format_first_then_bitrate_and_rate_and_reachability() -> None:
    # SoundTime's best copy: format points, min(kbps, 1411) // 4, kHz, +2000 when reachable
    assert copy_score("flac", 1411, 44100, online=False) == 1000 + 352 + 44
    assert copy_score("FLAC", 1411, 44100, online=True) == 1000 + 352 + 44 + 2000
    assert copy_score("xm", None, None, online=False) == 300
    assert copy_score("mp3", 320, 44100, online=False) < copy_score("opus", 96, 48000, online=False)
    assert copy_score("wav", 99_999, 10**9, online=False) == copy_score("wav", 1411, 192_000, online=False)
    assert copy_score("mp3", -5, -1, online=False) == 400


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6), st.integers(0, 10**7))
def test_a_higher_bitrate_never_scores_lower_and_reachability_always_wins(low: int, high: int, rate: int) -> None:
    low, high = sorted((low, high))
    assert copy_score("ogg", low, rate, online=False) <= copy_score("ogg", high, rate, online=False)
    assert copy_score("flac", 10**6, 10**7, online=False) < copy_score("xm", low, rate, online=True)
