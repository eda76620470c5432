"""Our search filter goes to a peer once per build, however many reasons to send it coincide (at start-up: the
contact, the first round and the first broadcast), and again once ``filter_resend_interval`` has passed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from soundtime.kit.db import Database
from soundtime.kit.jobs import Jobs
from soundtime.p2p import repository as p2p_repo
from soundtime.p2p import wire
from soundtime.p2p.errors import PeerUnavailable
from soundtime.p2p.policy import Policy
from soundtime.p2p.ports import OwnNode
from soundtime.search.routing import SearchFilters

PEER = "cd" * 32


class Recorder:
    """A messenger that records what it is asked to send (and fails while ``down``)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.down = False

    async def request(self, node_id: str, message: wire.Message, *, within: float | None = None) -> wire.Message:
        raise AssertionError("no request expected")

    async def send(self, node_id: str, message: wire.Message | wire.Encoded) -> None:
        if self.down:
            raise PeerUnavailable("down")
        self.sent.append((node_id, wire.encode_frame(message)))


@pytest.fixture
async def filters(db: Database) -> AsyncIterator[tuple[SearchFilters, Recorder, list[float]]]:
    now = [1000.0]
    jobs = Jobs("test filters")
    messenger = Recorder()
    built = SearchFilters(
        db=db, own=OwnNode(node_id="ab" * 32), policy=Policy(), jobs=jobs, messenger=messenger, clock=lambda: now[0]
    )
    await built.rebuild()
    async with db.transaction() as session:
        await p2p_repo.touch_peer(session, PEER, source="manual")  # online
    yield built, messenger, now
    await jobs.close()


async def _send_to(filters: SearchFilters, times: int) -> None:
    """``times`` broadcasts at once (the peer is the one online)."""
    await asyncio.gather(*(filters.broadcast() for _ in range(times)))


async def test_reasons_that_coincide_send_the_filter_once(filters: tuple[SearchFilters, Recorder, list[float]]) -> None:
    search_filters, messenger, _ = filters
    await _send_to(search_filters, 3)
    assert len(messenger.sent) == 1


async def test_the_same_filter_goes_again_after_the_resend_interval(
    filters: tuple[SearchFilters, Recorder, list[float]],
) -> None:
    search_filters, messenger, now = filters
    await _send_to(search_filters, 1)
    now[0] += Policy().timings.filter_resend_interval
    await _send_to(search_filters, 1)
    assert [frame for _, frame in messenger.sent] == [messenger.sent[0][1]] * 2


async def test_a_new_build_goes_at_once(filters: tuple[SearchFilters, Recorder, list[float]]) -> None:
    search_filters, messenger, _ = filters
    await _send_to(search_filters, 1)
    await search_filters.rebuild(force=True)
    await _send_to(search_filters, 1)
    assert len(messenger.sent) == 2
    assert messenger.sent[0][1] != messenger.sent[1][1]  # fresh keys


async def test_a_send_that_failed_is_not_counted(filters: tuple[SearchFilters, Recorder, list[float]]) -> None:
    search_filters, messenger, _ = filters
    messenger.down = True
    await _send_to(search_filters, 1)
    messenger.down = False
    await _send_to(search_filters, 1)
    assert len(messenger.sent) == 1
