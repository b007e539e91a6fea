"""`make bench`: speed targets as ratios against a baseline measured in the same run, on this machine.

In-process, against a weak baseline:
  blacklist_10k      batch_blacklist_tokens (pipelined chunks) vs blacklisting token by token, real redis-server
  outage_breaker     refresh latency during a blackhole with the circuit breaker vs without (no_breaker)
  verify_overhead    TokenCodec.verify (all checks) vs a bare PyJWT decode
  outage_defaults    worst wait and time to a fast answer under a real Toxiproxy blackhole (benchmarks/outage.py)
  durable_revocations  refresh and batch-blacklist throughput with replicas:1 durability over without, one replica
Over HTTP with wrk, against floors built from the same libraries (benchmarks/floors.py, service_paths.py):
  me, refresh, blacklist_10k_http, two_workers_me, degraded_me, and locust_recording (locust_overhead.py)
Results go to stdout (with the machine's core count) and reports/bench-<time>.json. Exit 0 when every
target is met, 1 when one is missed, 2 when wrk is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jwt

from authchaos.faults.embedded import EmbeddedNemesis, FaultyConnection
from authchaos.faults.fault_spec import Blackhole
from authchaos.servers.redis_server import RedisServer
from authchaos_reference.config import load_settings
from authchaos_reference.jwt_codec import Kind, TokenCodec
from authchaos_reference.redis_client import memory_server
from authchaos_reference.redis_ops import StoreUnavailable
from authchaos_reference.services import build_services
from benchmarks.durability import durable_revocations
from benchmarks.http_load import WrkMissing, wrk_binary
from benchmarks.locust_overhead import locust_recording
from benchmarks.outage import outage_defaults
from benchmarks.service_paths import ROUNDS, measure_paths


async def blacklist_10k(n: int = 10_000) -> dict[str, Any]:
    with RedisServer() as server:
        services = build_services(load_settings(redis_url=server.url))
        tokens: list[object] = [services.tokens.mint("alice", f"f{i}", f"r{i}").access_token for i in range(n)]
        started = time.perf_counter()
        await services.tokens.batch_blacklist_tokens(tokens)
        batched = time.perf_counter() - started
        server.flush()
        started = time.perf_counter()
        for token in tokens:  # the naive port: verify and SET, one round trip per token
            await services.tokens.blacklist(token)
        one_by_one = time.perf_counter() - started
        await services.aclose()
    return {
        "batched_s": round(batched, 4),
        "baseline_one_by_one_s": round(one_by_one, 4),
        "speedup": round(one_by_one / batched, 2),
        "target": ">= 2x (one round trip per chunk, not per token)",
    }


async def _outage_latency(bugs: str, calls: int = 20) -> float:
    name = f"bench-{bugs or 'fixed'}"
    settings = load_settings(redis_url=f"memory://{name}", redis_command_timeout_s=0.2, bugs=bugs, breaker_reset_s=30)
    services = build_services(settings, FaultyConnection)
    pair = await services.auth.login("alice", "wonderland")
    nemesis = EmbeddedNemesis(memory_server(name))
    nemesis.start(fault := Blackhole())
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        with contextlib.suppress(StoreUnavailable):
            await services.tokens.refresh(pair.refresh_token)
        samples.append(time.perf_counter() - started)
    nemesis.stop(fault)
    await services.aclose()
    return statistics.mean(samples)


async def outage_breaker() -> dict[str, Any]:
    with_breaker = await _outage_latency("")
    without = await _outage_latency("no_breaker")
    return {
        "mean_with_breaker_ms": round(with_breaker * 1000, 2),
        "baseline_no_breaker_ms": round(without * 1000, 2),
        "speedup": round(without / with_breaker, 1),
        "target": ">= 5x (fail fast once open)",
    }


def verify_overhead(n: int = 20_000) -> dict[str, Any]:
    settings = load_settings(redis_url="memory://")
    codec = TokenCodec(settings)
    token = codec.encode(Kind.ACCESS, {"sub": "alice", "tokenId": "t", "family": "f"}, ttl_s=600)
    key = codec.rings[Kind.ACCESS].current_key
    started = time.perf_counter()
    for _ in range(n):
        jwt.decode(token, key, algorithms=["HS256"], audience=settings.audience)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(n):
        codec.verify(token, Kind.ACCESS)
    ours = time.perf_counter() - started
    return {
        "verify_per_s": round(n / ours),
        "baseline_pyjwt_per_s": round(n / bare),
        "overhead_ratio": round(ours / bare, 2),
        "target": "<= 1.5x of a bare decode",
    }


async def in_process() -> dict[str, dict[str, Any]]:
    """The benches against a weak baseline (one process, no HTTP), and the outage figures."""
    results = {
        "blacklist_10k": await blacklist_10k(),
        "outage_breaker": await outage_breaker(),
        "verify_overhead": verify_overhead(),
        "outage_defaults": await outage_defaults(),
        "durable_revocations": await durable_revocations(),  # replicas:1 over off, refresh and batch blacklist
    }
    results["blacklist_10k"]["met"] = results["blacklist_10k"]["speedup"] >= 2
    results["outage_breaker"]["met"] = results["outage_breaker"]["speedup"] >= 5
    results["verify_overhead"]["met"] = results["verify_overhead"]["overhead_ratio"] <= 1.5
    return results


def _rps(figures: dict[str, Any]) -> str:
    return f"{figures['rps']:,.0f} req/s"


def table_rows(r: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str, str, bool]]:
    """(path, service figure, floor or baseline figure, ratio, target, met) for the HTTP comparisons."""
    degraded, loc = r["degraded_me"], r["locust_recording"]
    return [
        (
            "GET /auth/me",
            _rps(r["me"]["service"]),
            _rps(r["me"]["floor"]) + " (me floor)",
            f"{r['me']['ratio']}",
            ">= 0.8",
            r["me"]["met"],
        ),
        (
            "POST /auth/refresh",
            _rps(r["refresh"]["service"]),
            _rps(r["refresh"]["floor"]) + " (refresh floor)",
            f"{r['refresh']['ratio']}",
            ">= 0.8",
            r["refresh"]["met"],
        ),
        (
            "POST /auth/blacklist 10k",
            f"{r['blacklist_10k_http']['service_batch_ms']} ms/batch",
            f"{r['blacklist_10k_http']['floor_batch_ms']} ms/batch (batch floor)",
            f"{r['blacklist_10k_http']['ratio']}x time",
            "<= 1.3x",
            r["blacklist_10k_http"]["met"],
        ),
        (
            "GET /auth/me, 2 workers",
            _rps(r["two_workers_me"]["two_workers"]),
            _rps(r["two_workers_me"]["one_worker"]) + " (1 worker)",
            f"{r['two_workers_me']['ratio']}",
            ">= 1.6",
            r["two_workers_me"]["met"],
        ),
        (
            "GET /auth/me, degraded",
            f"{_rps(degraded['degraded'])}, p99 {degraded['degraded']['p99_ms']} ms",
            _rps(degraded["healthy"]) + " (healthy, via proxy)",
            f"{degraded['ratio']}",
            ">= 0.8, p99 < 50 ms",
            degraded["met"],
        ),
        (
            "Locust, recording on",
            f"{loc['recording_on_rps']:,.0f} req/s",
            f"{loc['recording_off_rps']:,.0f} req/s (recording off)",
            f"{loc['ratio']}",
            ">= 0.8",
            loc["met"],
        ),
        ("trivial floor (ceiling)", "", _rps(r["trivial_floor"]["floor"]), "", "context", True),
        (
            "me floor, 2 workers",
            _rps(r["two_workers_me"]["me_floor_two_workers"]),
            _rps(r["me"]["floor"]) + " (1 worker)",
            f"{r['two_workers_me']['me_floor_two_over_one']}",
            "context",
            True,
        ),
        (
            "trivial floor, 2 workers",
            _rps(r["two_workers_me"]["trivial_floor_two_workers"]),
            _rps(r["trivial_floor"]["floor"]) + " (1 worker)",
            f"{r['two_workers_me']['trivial_floor_two_over_one']}",
            "context",
            True,
        ),
    ]


def print_report(results: dict[str, dict[str, Any]], http: dict[str, dict[str, Any]]) -> None:
    for name, r in results.items():
        print(
            f"{'met ' if r['met'] else 'MISS'} {name:16} " + "  ".join(f"{k}={v}" for k, v in r.items() if k != "met")
        )
    rows = table_rows(http)
    head = ("path", "service", "floor / baseline", "ratio", "target", "")
    widths = [max(len(str(row[i])) for row in [*rows, head]) for i in range(5)]
    rounds = f"me and refresh: the best of {ROUNDS} alternating rounds each side"
    print(f"\nHTTP paths vs floors, wrk ({rounds}), cores: {os.cpu_count()} (os.cpu_count())")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)))
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:5], widths, strict=True)]
        print("  ".join(cells) + ("  met" if row[5] else "  MISS") * (row[4] != "context"))
    for name, r in http.items():
        if "note" in r:
            print(f"note: {name}: {r['note']}")
    unclean = [name for name, r in http.items() if r.get("clean") is False]
    if unclean:
        print(f"WARNING: failed answers or socket errors during {', '.join(unclean)}: see the report")


async def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    try:
        wrk_binary()
    except WrkMissing as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    results = await in_process()
    http = await measure_paths()
    http["locust_recording"] = locust_recording()
    degraded = http["degraded_me"]  # also against /auth/me served straight from Redis (no proxy hop), same run
    degraded["ratio_vs_direct_me"] = round(degraded["degraded"]["rps"] / http["me"]["service"]["rps"], 2)
    print_report(results, http)
    machine = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0], "generator": "wrk, 1 thread"}
    out = Path("reports") / f"bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine, **results, **http}, indent=2))
    print(f"written: {out}")
    return 0 if all(r["met"] for r in [*results.values(), *http.values()]) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
