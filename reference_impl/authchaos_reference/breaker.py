"""Circuit breaker: while Redis is unreachable a request pays microseconds, not a timeout.

Closed -> (threshold consecutive failures) -> open -> (reset_s) -> half-open:
exactly one caller is let through as a probe; its outcome closes or re-opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, threshold: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.reset_s = reset_s
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0

    def allow(self) -> bool:
        """May a call go to Redis now? In half-open, only the first asker may."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_s:
            self.state = BreakerState.HALF_OPEN
            return True
        return False

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()

    def retry_after_s(self) -> float:
        """Seconds until the next probe may run (what a 503 should tell clients)."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self.reset_s - (self._clock() - self._opened_at))
