"""What ``AUTHCHAOS_REVOCATION_DURABILITY=replicas:1`` costs: refresh and batch-blacklist throughput with durable
revocations divided by without, measured back to back in one run on a real primary with one real replica.

In-process (no HTTP): the service's own TokenService on redis-py, so the ratio isolates the extra WAIT that
follows each rotation and each revocation pipeline (one round trip more, plus the replica's acknowledgement).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from authchaos.servers.processes import wait_until
from authchaos.servers.redis_server import HOST, RedisServer, redis_command
from authchaos_reference.config import load_settings
from authchaos_reference.services import build_services

SESSIONS = 16
ROTATIONS = 60  # per session: 960 refreshes a measurement
BATCH = 10_000
_runs = itertools.count(1)


async def _refresh_rps(url: str, durability: str) -> float:
    services = build_services(load_settings(redis_url=url, revocation_durability=durability))
    run = next(_runs)
    # Sixteen sessions of one user (refresh checks that the account exists: a directory user, not an invented one).
    pairs = [services.tokens.mint("alice", f"fam-{run}-{i}", f"r-{run}-{i}") for i in range(SESSIONS)]
    for i in range(SESSIONS):  # register the families the way a login does
        await services.tokens.store.register_family(
            f"fam-{run}-{i}", "alice", f"r-{run}-{i}", issued_ms=int(time.time() * 1000)
        )

    async def chain(token: str) -> None:
        for _ in range(ROTATIONS):
            token = (await services.tokens.refresh(token)).refresh_token

    started = time.perf_counter()
    await asyncio.gather(*(chain(p.refresh_token) for p in pairs))
    elapsed = time.perf_counter() - started
    await services.aclose()
    return SESSIONS * ROTATIONS / elapsed


async def _blacklist_s(url: str, durability: str) -> float:
    services = build_services(load_settings(redis_url=url, revocation_durability=durability))
    tokens: list[object] = [services.tokens.mint("alice", f"f{i}", f"r{i}").access_token for i in range(BATCH)]
    started = time.perf_counter()
    await services.tokens.batch_blacklist_tokens(tokens)
    elapsed = time.perf_counter() - started
    await services.aclose()
    return elapsed


async def durable_revocations() -> dict[str, Any]:
    """Throughput ratios durable / non-durable (off, on, on, off: the better of each pair)."""
    with RedisServer() as primary, RedisServer(extra_args=["--replicaof", HOST, str(primary.port)]) as replica:
        wait_until(lambda: b"master_link_status:up" in redis_command(HOST, replica.port, "INFO", "replication"), 10)
        off = [await _refresh_rps(primary.url, "")]
        on = [await _refresh_rps(primary.url, "replicas:1"), await _refresh_rps(primary.url, "replicas:1")]
        off.append(await _refresh_rps(primary.url, ""))
        bl_off = [await _blacklist_s(primary.url, "")]
        bl_on = [await _blacklist_s(primary.url, "replicas:1"), await _blacklist_s(primary.url, "replicas:1")]
        bl_off.append(await _blacklist_s(primary.url, ""))
    refresh_ratio = max(on) / max(off)
    blacklist_ratio = min(bl_off) / min(bl_on)  # throughput ratio = time off / time on
    return {
        "refresh_rps_off": round(max(off)),
        "refresh_rps_durable": round(max(on)),
        "refresh_ratio": round(refresh_ratio, 2),
        "blacklist_10k_ms_off": round(min(bl_off) * 1000),
        "blacklist_10k_ms_durable": round(min(bl_on) * 1000),
        "blacklist_ratio": round(blacklist_ratio, 2),
        "target": "refresh >= 0.5, batch blacklist >= 0.8 (throughput durable / non-durable)",
        "met": refresh_ratio >= 0.5 and blacklist_ratio >= 0.8,
    }


if __name__ == "__main__":
    print(asyncio.run(durable_revocations()))
