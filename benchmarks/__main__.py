"""`make bench`: speed targets as ratios against a baseline measured in the same run, on this machine.

  blacklist_10k      batch_blacklist_tokens (pipelined chunks) vs blacklisting token by token, real redis-server
  outage_breaker     refresh latency during a blackhole with the circuit breaker vs without (no_breaker)
  verify_overhead    TokenCodec.verify (all checks) vs a bare PyJWT decode
Results go to stdout and reports/bench-<time>.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jwt

from benchmarks.outage import outage_defaults
from harness.faults.embedded import EmbeddedNemesis, FaultyConnection
from harness.faults.model import Blackhole
from harness.services.redis_server import RedisServer
from reference_impl.config import load_settings
from reference_impl.jwt_codec import Kind, TokenCodec
from reference_impl.redis_client import memory_server
from reference_impl.redis_ops import StoreUnavailable
from reference_impl.services import build_services


async def blacklist_10k(n: int = 10_000) -> dict[str, Any]:
    with RedisServer() as server:
        services = build_services(load_settings(redis_url=server.url))
        tokens = [services.tokens.mint("alice", f"f{i}", f"r{i}").access_token for i in range(n)]
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
    settings = load_settings(redis_url=f"memory://{name}", redis_command_timeout_s=0.2, bugs=bugs,
                             breaker_reset_s=30)  # fmt: skip
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
    return {"mean_with_breaker_ms": round(with_breaker * 1000, 2), "baseline_no_breaker_ms": round(without * 1000, 2),
            "speedup": round(without / with_breaker, 1), "target": ">= 5x (fail fast once open)"}  # fmt: skip


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
    return {"verify_per_s": round(n / ours), "baseline_pyjwt_per_s": round(n / bare),
            "overhead_ratio": round(ours / bare, 2), "target": "<= 1.5x of a bare decode"}  # fmt: skip


async def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    results = {
        "blacklist_10k": await blacklist_10k(),
        "outage_breaker": await outage_breaker(),
        "verify_overhead": verify_overhead(),
        "outage_defaults": await outage_defaults(),
    }
    results["blacklist_10k"]["met"] = results["blacklist_10k"]["speedup"] >= 2
    results["outage_breaker"]["met"] = results["outage_breaker"]["speedup"] >= 5
    results["verify_overhead"]["met"] = results["verify_overhead"]["overhead_ratio"] <= 1.5
    for name, r in results.items():
        print(
            f"{'met ' if r['met'] else 'MISS'} {name:16} " + "  ".join(f"{k}={v}" for k, v in r.items() if k != "met")
        )
    out = Path("reports") / f"bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out}")
    return 0 if all(r["met"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
