"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from authchaos_reference.redis_state import RedisState


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "authchaos_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "authchaos_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.redis_ops = Counter(
            "authchaos_redis_operations",
            "Redis round trips through the safe wrapper, by outcome (ok, error, short_circuit)",
            ["op", "outcome"],
            registry=r,
        )
        self.redis_state = Gauge(
            "authchaos_redis_state", "1 for the current Redis connection state", ["state"], registry=r
        )
        self.tokens_issued = Counter(
            "authchaos_tokens_issued",
            "Token pairs issued, by path (primary, fallback, refresh)",
            ["path"],
            registry=r,
        )
        self.refresh_rejected = Counter(
            "authchaos_refresh_rejected", "Refresh attempts rejected, by error code", ["code"], registry=r
        )
        self.revocations = Counter(
            "authchaos_revocations", "Revocations stored, by kind (token, family)", ["kind"], registry=r
        )
        self.degraded_accepts = Counter(
            "authchaos_degraded_accepts",
            "Access tokens accepted on signature alone while Redis was down",
            registry=r,
        )
        self.login_throttled = Counter("authchaos_login_throttled", "Logins refused, by limit", ["limit"], registry=r)
        self.set_redis_state(RedisState.CONNECTING)

    def set_redis_state(self, state: RedisState) -> None:
        for s in RedisState:
            self.redis_state.labels(s.value).set(1 if s is state else 0)

    def ops_count(self, op: str, outcome: str = "ok") -> float:
        """Current value of one Redis-operations counter (for tests and benchmarks)."""
        value = self.registry.get_sample_value("authchaos_redis_operations_total", {"op": op, "outcome": outcome})
        return value or 0.0

    def render(self) -> bytes:
        return generate_latest(self.registry)
