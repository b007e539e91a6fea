"""Each service path against its floor, measured back to back over HTTP with wrk in the same run.

  me                 GET /auth/me, service / me floor                        (target >= 0.8)
  refresh            POST /auth/refresh chains, service / refresh floor      (target >= 0.8)
  blacklist_10k_http POST /auth/blacklist of 10,000 tokens, service time / batch floor time (target <= 1.3)
  two_workers_me     GET /auth/me, 2 uvicorn workers / 1                     (target >= 1.6)
  degraded_me        GET /auth/me with Redis blackholed and the breaker open / healthy, same service
                     behind the same Toxiproxy (target >= 0.8, and p99 < 50 ms)

Sessions are minted in-process with the service's own code (``TokenService.mint`` + ``register_family``),
so neither side pays for logins and every refresh chain starts from a registered family.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from authchaos.faults.fault_spec import Blackhole
from authchaos.faults.nemesis import RealNemesis
from authchaos.servers.processes import free_port
from authchaos.servers.redis_server import RedisServer
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.servers.toxiproxy_server import ToxiproxyServer
from authchaos.sut.service_process import AuthServiceProcess
from authchaos_reference.config import load_settings
from authchaos_reference.jwt_codec import Kind, new_id
from authchaos_reference.jwt_service import TokenPair, TokenService
from authchaos_reference.services import build_services
from benchmarks.floors import FloorServer
from benchmarks.http_load import Load, lines_file, run_wrk

CONNECTIONS = 16
# The me and refresh comparisons alternate service and floor this many times and keep the best of each side:
# one run on two cores (wrk, redis-server and the server under test share them) varies by 10-25%.
ROUNDS = 3
DURATION_S = 4.0
WARM_S = 1.0


@dataclass(frozen=True)
class Tokens:
    """Files the wrk scripts read, minted for one run."""

    access: str  # one access token a line (distinct sessions of alice)
    refresh: list[
        str
    ]  # per round, four files of fresh refresh sessions: service warm-up, service, floor warm-up, floor
    blacklist_body: str  # {"tokens": [10,000 access tokens]}
    admin: str  # an admin's access token (the batch blacklist needs the role)


async def mint_tokens(redis_url: str, blacklist_n: int = 10_000) -> Tokens:
    services = build_services(load_settings(redis_url=redis_url))
    n = CONNECTIONS + CONNECTIONS // 2  # slack: a refresh lost with a socket error drops its session
    pairs = [await _session(services.tokens, "alice") for _ in range(n * 4 * ROUNDS + CONNECTIONS)]
    codec = services.tokens.codec
    victims = [
        codec.encode(Kind.ACCESS, {"sub": "alice", "tokenId": new_id(), "family": "bench"}, ttl_s=900)
        for _ in range(blacklist_n)
    ]
    admin = (await _session(services.tokens, "admin")).access_token
    await services.aclose()
    refresh = [
        str(lines_file([p.refresh_token for p in pairs[i * n : (i + 1) * n]], "refresh")) for i in range(4 * ROUNDS)
    ]
    body = '{"tokens":[' + ",".join(f'"{t}"' for t in victims) + "]}"
    return Tokens(
        str(lines_file([p.access_token for p in pairs[-CONNECTIONS:]], "access")),
        refresh,
        str(lines_file([body], "body.json")),
        admin,
    )


async def _session(tokens: TokenService, sub: str) -> TokenPair:
    family, refresh_id = new_id(), new_id()
    pair = tokens.mint(sub, family, refresh_id)
    await tokens.store.register_family(family, sub, refresh_id, issued_ms=int(time.time() * 1000))
    return pair


def measure(
    url: str,
    script: str,
    args: list[str],
    warm_args: list[str] | None = None,
    connections: int = CONNECTIONS,
    duration_s: float = DURATION_S,
) -> Load:
    """A short warm-up (connections, Redis pool), then the measured run."""
    run_wrk(url, script, warm_args or args, connections=min(connections, 4), duration_s=WARM_S, timeout_s=10)
    return run_wrk(url, script, args, connections=connections, duration_s=duration_s, timeout_s=10)


def compare(service: Load, floor: Load, *, higher_is_better: bool, bound: float, target: str) -> dict[str, Any]:
    """Service over floor (throughput) or service time over floor time; met when within ``bound``."""
    if higher_is_better:
        ratio = service.rps / floor.rps
        met = ratio >= bound
    else:
        ratio = service.p50_ms / floor.p50_ms  # one connection: each request's own time, the median of them
        met = ratio <= bound
    return {
        "service": service.figures(),
        "floor": floor.figures(),
        "ratio": round(ratio, 2),
        "target": target,
        "met": met and service.clean and floor.clean,
        "clean": service.clean and floor.clean,
    }


def best(loads: list[Load]) -> Load:
    """The round with the most throughput: the least disturbed by whatever else shared the cores."""
    return max(loads, key=lambda load: load.rps)


def me_and_workers(redis: RedisServer, tokens: Tokens) -> dict[str, dict[str, Any]]:
    """/auth/me with one worker against the me floor (alternating, ``ROUNDS`` each), then two workers; the trivial
    floor with one and two workers."""
    me = ("/auth/me", "bearer.lua", [tokens.access])
    with AuthServiceProcess(redis.url) as service, FloorServer("me_floor_app", redis.url) as floor:
        rounds = [(measure(service.url + me[0], *me[1:]), measure(floor.url + me[0], *me[1:])) for _ in range(ROUNDS)]
    one, floor_load = best([s for s, _ in rounds]), best([f for _, f in rounds])
    with AuthServiceProcess(redis.url, workers=2) as service:
        two = measure(service.url + me[0], *me[1:])
    with FloorServer("me_floor_app", redis.url, workers=2) as floor:
        floor_two = measure(floor.url + me[0], *me[1:])
    trivial = {}
    for n in (1, 2):
        with FloorServer("trivial_app", workers=n) as server:
            trivial[n] = measure(server.url + "/", "bearer.lua", [tokens.access])
    return {
        "me": compare(one, floor_load, higher_is_better=True, bound=0.8, target=">= 0.8 of the me floor"),
        "two_workers_me": _workers(one, two, trivial[1], trivial[2])
        | {
            "me_floor_two_over_one": round(floor_two.rps / floor_load.rps, 2),
            "me_floor_two_workers": floor_two.figures(),
        },
        "trivial_floor": {"floor": trivial[1].figures(), "met": True, "target": "context: the server's ceiling"},
    }


def _workers(one: Load, two: Load, trivial_one: Load, trivial_two: Load) -> dict[str, Any]:
    """Two workers over one; the floors' own two-over-one say what this machine allows (the trivial floor: the
    server alone; the me floor: the same Redis and PyJWT work, which shares the cores with redis-server and wrk).

    Why the diagnosis: uvicorn's supervisor binds the listener without IPPROTO_TCP, so asyncio never sets
    TCP_NODELAY on its connections and every keep-alive answer waits ~40 ms for a delayed ACK
    (Kludex/uvicorn#3149). That shows as a p50 near 40 ms on a path whose one-worker p50 is a few ms.
    """
    out = compare(two, one, higher_is_better=True, bound=1.6, target=">= 1.6x one worker")
    out["one_worker"], out["two_workers"] = out.pop("floor"), out.pop("service")
    out["trivial_floor_two_over_one"] = round(trivial_two.rps / trivial_one.rps, 2)
    out["trivial_floor_two_workers"] = trivial_two.figures()
    if two.p50_ms >= 35 and one.p50_ms < 20:
        out["note"] = "p50 ~40 ms with 2 workers: Nagle left on by uvicorn --workers N (Kludex/uvicorn#3149)"
    return out


def refresh(redis: RedisServer, tokens: Tokens) -> dict[str, Any]:
    """Refresh chains on the service and the floor, alternating ``ROUNDS`` times; each round fresh sessions."""
    ours, theirs = [], []
    with AuthServiceProcess(redis.url) as service, FloorServer("refresh_floor_app", redis.url) as floor:
        for r in range(ROUNDS):
            warm_s, run_s, warm_f, run_f = ([f] for f in tokens.refresh[4 * r : 4 * r + 4])
            ours.append(measure(service.url + "/auth/refresh", "refresh.lua", run_s, warm_s))
            theirs.append(measure(floor.url + "/auth/refresh", "refresh.lua", run_f, warm_f))
    return compare(best(ours), best(theirs), higher_is_better=True, bound=0.8, target=">= 0.8 of the refresh floor")


def blacklist_10k_http(redis: RedisServer, tokens: Tokens) -> dict[str, Any]:
    """One connection, one 10,000-token batch after another: the median batch time of each side."""
    args = [tokens.blacklist_body, tokens.admin]
    with AuthServiceProcess(redis.url) as service:
        ours = measure(service.url + "/auth/blacklist", "post.lua", args, connections=1, duration_s=6)
    with FloorServer("batch_floor_app", redis.url) as floor:
        floor_load = measure(floor.url + "/auth/blacklist", "post.lua", args, connections=1, duration_s=6)
    out = compare(ours, floor_load, higher_is_better=False, bound=1.3, target="<= 1.3x the batch floor's time")
    out["service_batch_ms"], out["floor_batch_ms"] = round(ours.p50_ms, 1), round(floor_load.p50_ms, 1)
    return out


def degraded_me(redis: RedisServer, tokens: Tokens) -> dict[str, Any]:
    """The same service behind the same proxy: healthy, then with Redis blackholed once the breaker is open."""
    with ToxiproxyServer() as toxiproxy:
        client = ToxiproxyClient(toxiproxy.api_url)
        port = free_port()
        client.create_proxy("bench-degraded", f"127.0.0.1:{port}", f"127.0.0.1:{redis.port}")
        nemesis = RealNemesis(client, "bench-degraded", redis)
        try:
            with AuthServiceProcess(f"redis://127.0.0.1:{port}/0") as service:
                healthy = measure(service.url + "/auth/me", "bearer.lua", [tokens.access])
                nemesis.start(fault := Blackhole())
                opened = _wait_degraded(service.url, tokens)
                degraded = measure(service.url + "/auth/me", "bearer.lua", [tokens.access])
                nemesis.stop(fault)
        finally:
            nemesis.rollback()
            client.delete_proxy("bench-degraded")
    out = compare(degraded, healthy, higher_is_better=True, bound=0.8, target=">= 0.8x healthy, p99 < 50 ms")
    out["degraded"], out["healthy"] = out.pop("service"), out.pop("floor")
    out["breaker_open_after_s"] = round(opened, 2)
    out["met"] = out["met"] and degraded.p99_ms < 50
    return out


def _wait_degraded(url: str, tokens: Tokens, limit_s: float = 10.0) -> float:
    """Call /auth/me until a degraded answer comes fast (the breaker is open); seconds it took."""
    token = open(tokens.access).readline().strip()  # noqa: SIM115
    began = time.perf_counter()
    with httpx.Client(base_url=url, timeout=5, headers={"Authorization": f"Bearer {token}"}) as c:
        while time.perf_counter() - began < limit_s:
            started = time.perf_counter()
            r = c.get("/auth/me")
            if "X-Auth-Degraded" in r.headers and time.perf_counter() - started < 0.05:
                return time.perf_counter() - began
    raise RuntimeError(f"/auth/me did not answer degraded and fast within {limit_s:g}s of the blackhole")


PATHS: list[tuple[str, Callable[[RedisServer, Tokens], dict[str, Any]]]] = [
    ("refresh", refresh),
    ("blacklist_10k_http", blacklist_10k_http),
    ("degraded_me", degraded_me),
]


async def measure_paths() -> dict[str, dict[str, Any]]:
    """Every comparison on one redis-server; each refresh session file is presented once, so one minting does."""
    with RedisServer() as redis:
        tokens = await mint_tokens(redis.url)
        out = me_and_workers(redis, tokens)
        for name, path in PATHS:
            out[name] = path(redis, tokens)
    return out
