"""Sibling signals: every listener runs, one that fails does not stop the others."""

from __future__ import annotations

import logging

import pytest

from soundtime.p2p.ports import VERSION, OwnNode, Signal, Signals


def test_a_signal_calls_every_listener_in_order_even_after_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[str] = []
    signal: Signal[[str]] = Signal("contacted")
    signal.connect(heard.append)
    signal.connect(lambda node_id: 1 / 0)
    signal.connect(lambda node_id: heard.append(node_id.upper()))

    with caplog.at_level(logging.ERROR):
        signal("ab")

    assert heard == ["ab", "AB"]
    assert "a listener of contacted failed" in caplog.text


def test_signals_are_separate_per_node() -> None:
    first, second = Signals(), Signals()
    heard: list[str] = []
    first.peer_blocked.connect(heard.append)
    second.peer_blocked("x")
    first.peer_blocked("y")
    assert heard == ["y"]


def test_our_pong_carries_our_id_count_and_version() -> None:
    own = OwnNode("a" * 64, 12)
    pong = own.pong()
    assert (pong.node_id, pong.track_count, pong.version) == ("a" * 64, 12, VERSION)
    assert VERSION.endswith("-soundtime-py")
