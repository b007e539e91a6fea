"""Outage figures with default settings: a real redis-server behind a real Toxiproxy blackhole.

The reference service runs under uvicorn (``authchaos serve``) with nothing but its Redis URL set,
so every timeout and breaker setting is the default. Clients call /auth/me and /auth/refresh one
after another, as a user would, and the run measures, against the healthy p50 of the same run:

  worst_wait       the longest single request during the blackhole (target: at most 0.5 s)
  time_to_fast     from the blackhole's start to the first fast answer, degraded or 503 (target: < 1 s)
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from authchaos.faults.fault_spec import Blackhole
from authchaos.faults.nemesis import RealNemesis
from authchaos.servers.processes import free_port
from authchaos.servers.redis_server import RedisServer
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.servers.toxiproxy_server import ToxiproxyServer
from authchaos.sut.service_process import AuthServiceProcess

FAST_S = 0.05  # an answer this quick did not wait on Redis


def _calls(c: httpx.Client, pair: dict[str, Any]) -> list[tuple[float, float, int]]:
    """One /auth/me and one /auth/refresh: (start, seconds, status) each."""
    out = []
    for method, path, kwargs in (
        ("GET", "/auth/me", {"headers": {"Authorization": f"Bearer {pair['access_token']}"}}),
        ("POST", "/auth/refresh", {"json": {"refresh_token": pair["refresh_token"]}}),
    ):
        started = time.perf_counter()
        r = c.request(method, path, **kwargs)
        out.append((started, time.perf_counter() - started, r.status_code))
        if path == "/auth/refresh" and r.status_code == 200:
            pair.update(r.json())
    return out


def measure(healthy_rounds: int = 200, outage_s: float = 3.0) -> dict[str, Any]:
    with RedisServer() as redis, ToxiproxyServer() as toxiproxy:
        client = ToxiproxyClient(toxiproxy.api_url)
        port = free_port()
        client.create_proxy("bench-outage", f"127.0.0.1:{port}", f"127.0.0.1:{redis.port}")
        nemesis = RealNemesis(client, "bench-outage", redis)
        with (
            AuthServiceProcess(f"redis://127.0.0.1:{port}/0") as service,
            httpx.Client(base_url=service.url, timeout=30) as c,
        ):
            pair = c.post("/auth/login", json={"username": "alice", "password": "wonderland"}).json()
            healthy = [d for _ in range(healthy_rounds) for _, d, _ in _calls(c, pair)]
            fault = Blackhole()
            nemesis.start(fault)
            began = time.perf_counter()
            during: list[tuple[float, float, int]] = []
            try:
                while time.perf_counter() - began < outage_s:
                    during += _calls(c, pair)
            finally:
                nemesis.stop(fault)
                nemesis.rollback()
        client.delete_proxy("bench-outage")
    return _figures(healthy, during, began)


def _figures(healthy: list[float], during: list[tuple[float, float, int]], began: float) -> dict[str, Any]:
    p50 = statistics.median(healthy)
    worst = max(d for _, d, _ in during)
    slow = [d for _, d, _ in during if d > FAST_S]
    fast_from = min((s + d for s, d, _ in during if d <= FAST_S), default=float("inf")) - began
    statuses = sorted({status for _, _, status in during})
    return {
        "healthy_p50_ms": round(p50 * 1000, 2),
        "worst_wait_ms": round(worst * 1000, 1),
        "time_to_fast_ms": round(fast_from * 1000, 1),
        "worst_wait_vs_p50": round(worst / p50, 1),
        "time_to_fast_vs_p50": round(fast_from / p50, 1),
        "slow_answers": len(slow),
        "answers": len(during),
        "statuses": statuses,
        "met": worst <= 0.5 and fast_from < 1.0 and 500 not in statuses,
        "target": "worst wait <= 0.5 s, fast answers (degraded or 503) within 1 s, no 500",
    }


async def outage_defaults() -> dict[str, Any]:
    """The ``make bench`` entry: blocking I/O, run in the calling thread (the bench is sequential)."""
    return measure()
