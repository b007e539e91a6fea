"""Connection state tracking: one log line per transition, and when the outage began.

The degradation policy reads ``outage_age_s()``; /health shows ``state``. An outage is one episode
from its first failure until Redis has answered for ``settle_s`` without a single failure: one
succeeding call in between (a PING during a partial failure) does not restart the degraded window.
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
    FAILOVER = "failover"  # the primary is changing: READONLY, CLUSTERDOWN, TRYAGAIN, no primary known


class StateTracker:
    def __init__(self, clock: Callable[[], float] = time.monotonic, settle_s: float = 10.0) -> None:
        self._clock = clock
        self.settle_s = settle_s
        self.last_failure: float | None = None
        self.state = RedisState.CONNECTING
        self.since = clock()
        self.outage_started: float | None = None
        self.last_error: str | None = None
        self.transitions = 0
        self.listeners: list[Callable[[RedisState, RedisState], None]] = []

    def mark(self, new: RedisState, error: str | None = None) -> None:
        if error is not None:
            self.last_error = error
        if new is not RedisState.READY:
            now = self._clock()
            if self.outage_age_s() is None:
                self.outage_started = now
            self.last_failure = now
        if new is self.state:
            return
        old, self.state, self.since = self.state, new, self._clock()
        self.transitions += 1
        if new is RedisState.READY:
            log.info("redis state %s -> %s", old, new)
        else:
            log.warning("redis state %s -> %s (%s)", old, new, self.last_error or "no error recorded")
        for listener in self.listeners:
            listener(old, new)

    def outage_age_s(self) -> float | None:
        """Seconds since this outage began, or None once Redis has answered for ``settle_s`` without failing."""
        if self.outage_started is None:
            return None
        now = self._clock()
        settled = self.last_failure is None or now - self.last_failure >= self.settle_s
        if self.state is RedisState.READY and settled:
            self.outage_started = None
            return None
        return now - self.outage_started
