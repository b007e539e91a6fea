"""Connection state tracking: one log line per transition, and when the outage began.

The degradation policy reads ``outage_age_s()``; /health shows ``state``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger("authchaos.redis")


class RedisState(StrEnum):
    CONNECTING = "connecting"  # nothing has succeeded yet (lazy connect)
    READY = "ready"
    DEGRADED = "degraded"  # failures, but fewer than the breaker threshold
    DOWN = "down"  # threshold reached: calls are short-circuited


class StateTracker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.state = RedisState.CONNECTING
        self.since = clock()
        self.outage_started: float | None = None
        self.last_error: str | None = None
        self.transitions = 0
        self.listeners: list[Callable[[RedisState, RedisState], None]] = []

    def mark(self, new: RedisState, error: str | None = None) -> None:
        if error is not None:
            self.last_error = error
        if new is self.state:
            return
        old, self.state, self.since = self.state, new, self._clock()
        self.transitions += 1
        if new is RedisState.READY:
            self.outage_started = None
            log.info("redis state %s -> %s", old, new)
        else:
            if self.outage_started is None:
                self.outage_started = self.since
            log.warning("redis state %s -> %s (%s)", old, new, self.last_error or "no error recorded")
        for listener in self.listeners:
            listener(old, new)

    def outage_age_s(self) -> float | None:
        """Seconds since Redis stopped answering, or None while it answers."""
        return None if self.outage_started is None else self._clock() - self.outage_started
