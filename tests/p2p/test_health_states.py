"""The pure transitions of a replicated track's health: strikes, the third one, recoveries, the admin's pin,
and the bounds the database columns set (a SMALLINT count, a 500-character error)."""

from __future__ import annotations

import pytest

from soundtime.p2p.health.states import (
    DEGRADED,
    DEREFERENCE_AFTER,
    DEREFERENCED,
    HEALTHY,
    MAX_ERROR_LENGTH,
    MAX_FAILURES,
    RECOVERED,
    STATES,
    Health,
    after_failure,
    after_success,
    dereferenced_by_admin,
    rereferenced_by_admin,
    truncate_error,
)


def test_the_states_and_limits_are_the_documented_ones() -> None:
    assert STATES == ("healthy", "recovered", "degraded", "dereferenced")
    assert (DEREFERENCE_AFTER, MAX_FAILURES, MAX_ERROR_LENGTH) == (3, 32767, 500)
    assert Health() == Health(state="healthy", consecutive_failures=0, manually_dereferenced=False)


def test_strikes_degrade_then_the_third_dereferences() -> None:
    health = Health()
    seen = []
    for _ in range(5):
        health = after_failure(health)
        seen.append((health.state, health.consecutive_failures))
    assert seen == [(DEGRADED, 1), (DEGRADED, 2), (DEREFERENCED, 3), (DEREFERENCED, 4), (DEREFERENCED, 5)]
    assert health.manually_dereferenced is False


@pytest.mark.parametrize(
    ("state", "expected"),
    [(HEALTHY, HEALTHY), (RECOVERED, RECOVERED), (DEGRADED, RECOVERED), (DEREFERENCED, RECOVERED)],
)
def test_a_success_clears_the_strikes_and_recovers_what_was_in_trouble(state: str, expected: str) -> None:
    assert after_success(Health(state, 2)) == Health(expected, 0)


def test_a_failure_after_a_recovery_starts_counting_again() -> None:
    health = after_success(after_failure(after_failure(Health())))
    assert health == Health(RECOVERED, 0)
    assert after_failure(health) == Health(DEGRADED, 1)


def test_the_count_stops_at_what_the_column_holds() -> None:
    assert after_failure(Health(DEREFERENCED, MAX_FAILURES - 1)) == Health(DEREFERENCED, MAX_FAILURES)
    assert after_failure(Health(DEREFERENCED, MAX_FAILURES)) == Health(DEREFERENCED, MAX_FAILURES)


def test_an_administrators_dereference_is_sticky_until_they_rereference() -> None:
    pinned = dereferenced_by_admin(Health(DEGRADED, 1))
    assert pinned == Health(DEREFERENCED, 1, manually_dereferenced=True)
    assert after_success(pinned) is pinned  # a peer answering does not undo the administrator
    assert after_failure(pinned) is pinned
    assert dereferenced_by_admin(Health()) == Health(DEREFERENCED, 0, manually_dereferenced=True)
    assert rereferenced_by_admin(pinned) == Health(HEALTHY, 0, manually_dereferenced=False)
    assert rereferenced_by_admin(Health(DEREFERENCED, 7)) == Health()


@pytest.mark.parametrize("length", [0, 1, MAX_ERROR_LENGTH - 1, MAX_ERROR_LENGTH])
def test_errors_up_to_the_limit_are_kept_whole(length: int) -> None:
    error = "e" * length
    assert truncate_error(error) == error


@pytest.mark.parametrize("length", [MAX_ERROR_LENGTH + 1, MAX_ERROR_LENGTH + 2, 10 * MAX_ERROR_LENGTH])
def test_longer_errors_are_cut_to_the_limit_with_an_ellipsis(length: int) -> None:
    cut = truncate_error("0123456789" * (length // 10) + "x" * (length % 10))
    assert len(cut) == MAX_ERROR_LENGTH
    assert cut == ("0123456789" * 50)[: MAX_ERROR_LENGTH - 1] + "…"
