"""Sliding-window rate limiter."""

from __future__ import annotations

from soundtime.kit.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_key_and_window_slides() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60.0, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("a") == 60.0
    assert limiter.hit("b") == 0.0
    clock.now += 30
    assert limiter.hit("a") == 30.0
    clock.now += 30.5
    assert limiter.hit("a") == 0.0


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(1, 60.0, max_keys=100)
    for i in range(1000):
        limiter.hit(f"client-{i}")
    assert len(limiter._events) == 100
