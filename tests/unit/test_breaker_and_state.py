"""Circuit breaker and connection-state tracking, on a controllable clock."""

from __future__ import annotations

import logging

import pytest

from authchaos_reference.breaker import BreakerState, CircuitBreaker
from authchaos_reference.redis_state import RedisState, StateTracker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_lets_one_probe_through_after_reset() -> None:
    clock = Clock()
    b = CircuitBreaker(threshold=3, reset_s=1.0, clock=clock)
    for _ in range(2):
        b.record_failure()
    assert b.allow() and b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    assert b.retry_after_s() == pytest.approx(1.0)
    clock.now += 1.0
    assert b.allow() and b.state is BreakerState.HALF_OPEN
    assert not b.allow(), "only one probe at a time"
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.now += 1.0
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.failures == 0 and b.allow()


def test_success_resets_the_consecutive_count() -> None:
    b = CircuitBreaker(threshold=2, reset_s=1.0, clock=Clock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_state_transitions_log_once_and_track_outage_start(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    t = StateTracker(clock=clock, settle_s=10)
    caplog.set_level(logging.INFO, "authchaos.redis")
    t.mark(RedisState.READY)
    clock.now += 5
    for _ in range(50):
        t.mark(RedisState.DOWN, error="ConnectionError")
    assert t.outage_started == 105.0
    clock.now += 7
    assert t.outage_age_s() == 7.0
    t.mark(RedisState.READY)
    assert t.outage_age_s() == 7.0, "one success does not end the outage"
    clock.now += 3
    assert t.outage_age_s() is None, "ten seconds without a failure does"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "redis state connecting -> ready",
        "redis state ready -> down (ConnectionError)",
        "redis state down -> ready",
    ]
