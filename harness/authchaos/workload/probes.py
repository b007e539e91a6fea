"""The steady-state hypothesis: a few probes that say "the service is healthy", run before and after."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
from pydantic import Field

from authchaos.record import protocol
from authchaos.record.exchange import build_request, read_answer
from authchaos.record.service_contract import ServiceContract, answer_value
from authchaos.record.strict_model import StrictModel


class Probe(StrictModel):
    op: Literal["login", "oauth_login", "refresh", "me", "health"]
    expect_status: int = 200
    max_latency_ms: float | None = Field(None, gt=0)


PROBE_OPERATION = {
    "login": "login",
    "oauth_login": "oauth_callback",
    "refresh": "refresh",
    "me": "me",
    "health": "health",
}


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
    path: str = ""  # METHOD /path the probe called, so "not healthy" names where


@dataclass
class SteadyStateReport:
    when: str
    passed: bool
    attempts: int
    probes: list[ProbeResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _exchange(
    http: httpx.AsyncClient, contract: ServiceContract, operation: str, **args: Any
) -> tuple[int, Any, httpx.Headers]:
    spec = contract.operation(operation)
    assert spec is not None  # probes of absent operations are dropped before
    req = build_request(spec, args, username=contract.users.user.username)
    r = await http.request(req.method, req.path, **req.options())
    body = protocol.parse_body(r.text)
    answer = read_answer(contract, spec, r.status_code, body, r.headers)
    if answer.undeclared and isinstance(answer.body, dict):
        answer.body["undeclared"] = answer.undeclared
    return r.status_code, answer.body, r.headers


async def _probe(
    http: httpx.AsyncClient, contract: ServiceContract, op: str, tokens: dict[str, Any]
) -> tuple[int, str]:
    """One probe's status and message; updates ``tokens`` when it logs in or refreshes."""
    user = contract.users.user
    if op == "health":
        status, body, _ = await _exchange(http, contract, "health")
        wrong = [
            f"{place}={answer_value(place, body, {}, {})!r}"
            for place, want in contract.healthy.items()
            if answer_value(place, body, {}, {}) != want
        ]
        return (599, f"not healthy: {', '.join(wrong)}") if status == 200 and wrong else (status, "")
    if op in ("login", "oauth_login") or not tokens:
        if op == "oauth_login":
            status, body, _ = await _exchange(http, contract, "oauth_callback", username=user.username)
        else:
            status, body, _ = await _exchange(http, contract, "login", username=user.username, password=user.password)
    elif op == "me":
        status, body, headers = await _exchange(http, contract, "me", access=tokens.get("access_token"))
        header = contract.degraded_header
        if header and header.lower() in {k.lower() for k in headers}:
            return 599, "degraded"
    else:
        status, body, _ = await _exchange(http, contract, "refresh", refresh=tokens.get("refresh_token"))
    if status == 200 and isinstance(body, dict) and "access_token" in body:
        tokens.clear()
        tokens.update(body)
    message = ""
    if isinstance(body, dict) and body.get("undeclared"):
        message = f"({body['undeclared']})"
    elif status >= 400 and isinstance(body, dict):
        message = f"{body.get('error')}: {body.get('message')}"
    return status, message


async def _probe_once(http: httpx.AsyncClient, probes: list[Probe], contract: ServiceContract) -> list[ProbeResult]:
    results = []
    tokens: dict[str, Any] = {}
    for probe in probes:
        started = time.perf_counter()
        status: int | None = None
        try:
            status, message = await _probe(http, contract, probe.op, tokens)
        except httpx.HTTPError as exc:
            message = f"{type(exc).__name__}: {exc}"[:160]
        latency = (time.perf_counter() - started) * 1000
        ok = status == probe.expect_status and (probe.max_latency_ms is None or latency <= probe.max_latency_ms)
        path = _path(contract, probe.op)
        results.append(ProbeResult(probe.op, probe.expect_status, status, round(latency, 2), ok, message[:160], path))
    return results


def _path(contract: ServiceContract, op: str) -> str:
    spec = contract.operation(PROBE_OPERATION[op])
    return f"{spec.method} {spec.path}" if spec else ""


def usable_probes(probes: list[Probe], contract: ServiceContract) -> list[Probe]:
    """The probes whose operation the contract declares (a service without OAuth is not probed there)."""
    return [p for p in probes if contract.operation(PROBE_OPERATION[p.op]) is not None]


async def check_steady_state(
    base_url: str, probes: list[Probe], when: str, *, contract: ServiceContract, retry_for_s: float = 0.0
) -> SteadyStateReport:
    """Run the probes; with ``retry_for_s``, repeat until they pass or the time is up (recovery allowance)."""
    probes = usable_probes(probes, contract)
    deadline = time.monotonic() + retry_for_s
    attempts = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
        while True:
            attempts += 1
            results = await _probe_once(http, probes, contract)
            passed = all(r.passed for r in results)
            if passed or time.monotonic() >= deadline:
                return SteadyStateReport(when, passed, attempts, results)
            await asyncio.sleep(0.25)
