"""All Redis access goes through here (fix 4 of the original service).

``safe_redis_operation`` is the port of ``safeRedisOperation``: it runs one
round trip behind the circuit breaker, records the outcome in the state
tracker and metrics, and turns any Redis failure into either the declared
fallback (best-effort paths) or ``StoreUnavailable`` (fail-closed paths).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import (
    ClusterDownError,
    MaxConnectionsError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import MasterNotFoundError

from authchaos_reference.breaker import BreakerState, CircuitBreaker
from authchaos_reference.bugs import Bug
from authchaos_reference.config import Settings
from authchaos_reference.metrics import Metrics
from authchaos_reference.overload import LoadMonitor, Overloaded
from authchaos_reference.redis_state import RedisState, StateTracker

log = logging.getLogger("authchaos.redis")
T = TypeVar("T")

# Failures that mean "Redis is not answering" (OSError covers refused/reset sockets
# that slip past redis-py's own wrapping; TimeoutError covers asyncio timeouts).
RECENT_SUCCESS_S = 1.0  # Redis answered another call this recently: it is up, a late timeout is ours
# RedisClusterException is not a RedisError in redis-py (a slot with no node, for one).
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
# What a failover looks like from the client: an old primary turned replica (READONLY), no primary known to
# the sentinels, a cluster down or mid-resharding (CLUSTERDOWN, TRYAGAIN), a slot with no node.
FAILOVER_ERRORS: tuple[type[BaseException], ...] = (
    ReadOnlyError,
    ClusterDownError,
    TryAgainError,
    MasterNotFoundError,
    SlotNotCoveredError,
)


class StoreUnavailable(Exception):
    """Redis could not serve this operation; the caller decides how to degrade."""

    def __init__(self, op: str, reason: str, retry_after_s: float) -> None:
        super().__init__(f"redis unavailable during {op}: {reason}")
        self.op = op
        self.reason = reason
        self.retry_after_s = retry_after_s


class StoreError(Exception):
    """Redis answered, with an error (NOPERM, WRONGTYPE, CROSSSLOT, a script error): a fault of this
    deployment, not an outage. Fails closed (503) and never opens the breaker or the degraded mode."""

    def __init__(self, op: str, reason: str) -> None:
        super().__init__(f"redis refused {op}: {reason}")
        self.op = op
        self.reason = reason
        self.retry_after_s = 1.0


def is_command_error(exc: BaseException) -> bool:
    """An error reply from a live Redis. A failover in progress (read-only replica, cluster down) is an outage."""
    return isinstance(exc, ResponseError) and not isinstance(exc, FAILOVER_ERRORS)


class _Raise:
    def __repr__(self) -> str:
        return "RAISE"


RAISE: Any = _Raise()


class RedisOperations:
    def __init__(self, client: Redis, settings: Settings, metrics: Metrics, load: LoadMonitor | None = None) -> None:
        self.client = client
        self.load = load or LoadMonitor(settings.max_inflight, settings.shed_lag_s)
        # A timeout while the loop lags this much may be our own queueing: the reply can be there, unread.
        self._own_lag_s = min(settings.shed_lag_s, settings.redis_command_timeout_s / 4)
        self._last_success = float("-inf")
        self.settings = settings
        self.metrics = metrics
        self.state = StateTracker(settle_s=settings.outage_settle_s)
        self._reported: set[str] = set()
        self.state.listeners.append(lambda _old, new: metrics.set_redis_state(new))
        self.breaker = CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_reset_s)
        self._use_breaker = Bug.NO_BREAKER not in settings.bugs
        self._unsafe = Bug.UNSAFE_REDIS in settings.bugs
        self._never_reconnect = Bug.NO_RECONNECT in settings.bugs
        self._gave_up = False  # only ever set under the no_reconnect bug

    async def safe_redis_operation(self, name: str, fn: Callable[[Redis], Awaitable[T]], fallback: T = RAISE) -> T:
        """Run ``fn(client)`` (one round trip); on failure return ``fallback`` or raise StoreUnavailable."""
        if self._gave_up:
            return self._fail(name, "connection closed for good after the first error", fallback)
        if self._use_breaker and not self._unsafe and not self.breaker.allow():
            self.metrics.redis_ops.labels(name, "short_circuit").inc()
            return self._unavailable(name, "circuit open", fallback)
        try:
            result = await fn(self.client)
        except REDIS_FAILURES as exc:
            if is_command_error(exc) and not self._unsafe:
                return self._refused(name, exc, fallback)
            if self._unsafe:  # the bug: no wrapper, the raw error reaches the route (a 500)
                self._fail(name, f"{type(exc).__name__}: {exc}", None)
                raise
            if self._is_own_delay(exc):
                return self._overloaded(name, fallback)
            if self._never_reconnect and isinstance(exc, RedisConnectionError | OSError):
                self._gave_up = True
            return self._fail(name, f"{type(exc).__name__}: {exc}", fallback, failover=isinstance(exc, FAILOVER_ERRORS))
        except BaseException:
            # Cancelled mid-call: the outcome is unknown, so a half-open probe must not stay in flight.
            if self.breaker.state is BreakerState.HALF_OPEN:
                self.breaker.record_failure()
            raise
        self._succeeded(name)
        return result

    def _is_own_delay(self, exc: BaseException) -> bool:
        """Our queueing, not Redis: every pooled connection busy, or a timeout while the loop was late *and*
        Redis has been answering other calls (within the last second). A blackholed Redis answers nobody,
        so its timeouts count against it however busy the loop is."""
        if isinstance(exc, MaxConnectionsError):
            return True
        if not isinstance(exc, RedisTimeoutError | asyncio.TimeoutError) or self.load.lag_s <= self._own_lag_s:
            return False
        return time.monotonic() - self._last_success < RECENT_SUCCESS_S

    def _overloaded(self, name: str, fallback: T) -> T:
        """Our own saturation: no breaker failure, no degraded mode; counted as shed. A half-open trial whose
        outcome is unknown re-opens the breaker, so the next probe can run (as for a cancelled call)."""
        self.metrics.redis_ops.labels(name, "overload").inc()
        self.load.shed += 1
        if self.breaker.state is BreakerState.HALF_OPEN:
            self.breaker.record_failure()
        if fallback is RAISE:
            raise Overloaded("Server busy; retry shortly")
        return fallback

    def _succeeded(self, name: str) -> None:
        self._last_success = time.monotonic()
        self.metrics.redis_ops.labels(name, "ok").inc()
        self.breaker.record_success()
        if self.state.state is not RedisState.READY:
            self.state.mark(RedisState.READY)

    def _refused(self, name: str, exc: BaseException, fallback: T) -> T:
        """Redis is up and said no: count it, say so once per operation, fail closed (or fall back)."""
        self.metrics.redis_ops.labels(name, "command_error").inc()
        self.breaker.record_success()  # it answered: no reason to short-circuit anyone else
        if name not in self._reported:
            self._reported.add(name)
            log.error("redis refused %s: %s (check the ACL, key types and cluster slots)", name, exc)
        if fallback is RAISE:
            raise StoreError(name, f"{type(exc).__name__}: {exc}")
        return fallback

    def _fail(self, name: str, reason: str, fallback: T, *, failover: bool = False) -> T:
        """An outage call; a failover's errors are an outage too, shown as its own state."""
        self.metrics.redis_ops.labels(name, "error").inc()
        self.breaker.record_failure()
        down = self.breaker.failures >= self.settings.breaker_failure_threshold or self._gave_up
        state = RedisState.FAILOVER if failover else RedisState.DOWN if down else RedisState.DEGRADED
        self.state.mark(state, error=f"{name}: {reason}")
        return self._unavailable(name, reason, fallback)

    def _unavailable(self, name: str, reason: str, fallback: T) -> T:
        if fallback is RAISE:
            retry_after = self.breaker.retry_after_s() if self._use_breaker else 1.0
            raise StoreUnavailable(name, reason, max(retry_after, 1.0))
        return fallback

    async def probe(self) -> bool:
        """One PING through the wrapper; drives recovery when no traffic does."""
        try:
            return bool(await self.safe_redis_operation("ping", lambda r: r.ping(), fallback=False))
        except REDIS_FAILURES:  # only under the unsafe_redis bug does the wrapper let errors out
            return False

    async def follow_primary(self) -> bool:
        """Sentinel only: ask the sentinels where the primary is; when it moved, drop every connection (in use
        too) so none keeps reading from, or writing to, a deposed primary that still answers. True: it moved.

        redis-py alone re-asks only when it opens a connection or a write meets READONLY, and a deposed primary
        is demoted seconds after the failover: meanwhile its stale reads would accept revoked tokens. Run by the
        probe loop under replicas:N durability only: while sentinels disagree mid-failover, following the first
        one that answers moves writes back and forth, which only durability makes harmless (measured)."""
        pool = self.client.connection_pool
        if not isinstance(pool, SentinelConnectionPool):
            return False
        before = pool.master_address
        try:
            await pool.get_master_address()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except REDIS_FAILURES:  # no sentinel answers, or none names a primary (mid-failover): ask again later
            return False
        if before is None or pool.master_address == before:
            return False
        log.warning("redis primary moved to %s (sentinels)", pool.master_address)
        await pool.disconnect(inuse_connections=True)
        return True

    async def aclose(self) -> None:
        try:
            await self.client.aclose()
        except REDIS_FAILURES as exc:  # closing a dead connection is not worth a traceback
            log.debug("closing redis client: %s", exc)
