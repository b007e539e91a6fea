"""Telling this process's own saturation apart from Redis failing.

Why: when the event loop is saturated, a Redis reply that arrived in time is
read late and its command "times out". Counted as a Redis failure, that opens
the breaker and turns /auth/me fail-open while Redis is perfectly healthy. So
the service watches its own loop: beyond capacity it sheds new requests with an
explicit 503 ``overloaded``, and a timeout seen while the loop lags is
overload, not an outage.
"""

from __future__ import annotations

import asyncio
import time

from authchaos_reference.errors import AuthError

SAMPLE_S = 0.02  # how often the loop's lag is sampled
DECAY = 0.5  # a lag reading halves each quiet sample
SUSTAINED = 3  # late samples in a row before shedding: one stall (GC, a batch chunk) is not overload


class Overloaded(AuthError):
    """More work than this process can serve in time; the client should retry after a pause."""

    status, code = 503, "overloaded"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class LoadMonitor:
    def __init__(self, max_inflight: int, max_lag_s: float) -> None:
        self.max_inflight = max_inflight
        self.max_lag_s = max_lag_s
        self.inflight = 0
        self.lag_s = 0.0  # decayed maximum of the recent event-loop lag
        self.late = 0  # samples in a row later than max_lag_s
        self.shed = 0

    def saturated(self) -> bool:
        return self.late >= SUSTAINED

    def admit(self) -> Overloaded | None:
        """None to go ahead (the caller must ``release()``), or the answer to shed with."""
        if self.inflight >= self.max_inflight:
            self.shed += 1
            return Overloaded(f"Over {self.max_inflight} requests in progress; retry shortly")
        if self.saturated():
            self.shed += 1
            return Overloaded(f"Server busy (event loop {self.lag_s * 1000:.0f} ms behind); retry shortly")
        self.inflight += 1
        return None

    def release(self) -> None:
        self.inflight -= 1

    async def watch(self) -> None:
        """Sample the loop's lag for the life of the service (cancelled on shutdown)."""
        while True:
            began = time.perf_counter()
            await asyncio.sleep(SAMPLE_S)
            lag = max(0.0, time.perf_counter() - began - SAMPLE_S)
            self.lag_s = max(lag, self.lag_s * DECAY)
            self.late = self.late + 1 if lag > self.max_lag_s else 0
