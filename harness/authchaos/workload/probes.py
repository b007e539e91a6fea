"""The steady-state hypothesis: a few probes that say "the service is healthy", run before and after."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
from pydantic import Field

from authchaos.record.strict_model import StrictModel


class Probe(StrictModel):
    op: Literal["login", "oauth_login", "refresh", "me", "health"]
    expect_status: int = 200
    max_latency_ms: float | None = Field(None, gt=0)


class SteadyState(StrictModel):
    probes: list[Probe] = Field(
        default_factory=lambda: [Probe(op="health"), Probe(op="login"), Probe(op="me"), Probe(op="refresh")]
    )


@dataclass
class ProbeResult:
    op: str
    expected: int
    status: int | None
    latency_ms: float
    passed: bool
    message: str = ""


@dataclass
class SteadyStateReport:
    when: str
    passed: bool
    attempts: int
    probes: list[ProbeResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _probe_once(http: httpx.AsyncClient, probes: list[Probe]) -> list[ProbeResult]:
    results = []
    tokens: dict[str, str] = {}
    for probe in probes:
        started = time.perf_counter()
        status: int | None = None
        message = ""
        try:
            if probe.op == "health":
                r = await http.get("/health")
                message = (r.json() or {}).get("status", "") if r.status_code == 200 else r.text[:120]
                status = r.status_code if message == "ok" else 599  # degraded health is not steady
            elif probe.op in ("login", "oauth_login") or not tokens:
                r = await (
                    http.get("/oauth/callback", params={"provider": "demo", "code": "user:alice"})
                    if probe.op == "oauth_login"
                    else http.post("/auth/login", json={"username": "alice", "password": "wonderland"})
                )
                status = r.status_code
                if status == 200:
                    tokens = r.json()
            elif probe.op == "me":
                r = await http.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
                status = r.status_code
                if "x-auth-degraded" in r.headers:
                    status, message = 599, "degraded"
            else:
                r = await http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
                status = r.status_code
                if status == 200:
                    tokens = r.json()
            if status and status >= 400 and not message:
                message = r.text[:160]
        except httpx.HTTPError as exc:
            message = f"{type(exc).__name__}: {exc}"[:160]
        latency = (time.perf_counter() - started) * 1000
        ok = status == probe.expect_status and (probe.max_latency_ms is None or latency <= probe.max_latency_ms)
        results.append(ProbeResult(probe.op, probe.expect_status, status, round(latency, 2), ok, message))
    return results


async def check_steady_state(
    base_url: str, probes: list[Probe], when: str, *, retry_for_s: float = 0.0
) -> SteadyStateReport:
    """Run the probes; with ``retry_for_s``, repeat until they pass or the time is up (recovery allowance)."""
    deadline = time.monotonic() + retry_for_s
    attempts = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
        while True:
            attempts += 1
            results = await _probe_once(http, probes)
            passed = all(r.passed for r in results)
            if passed or time.monotonic() >= deadline:
                return SteadyStateReport(when, passed, attempts, results)
            await asyncio.sleep(0.25)
