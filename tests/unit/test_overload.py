"""Saturation is handled as saturation: explicit shedding, and the breaker blames Redis only for Redis's faults.

Also the hot-path changes that must not change behaviour: the direct routes answer like FastAPI's, the
cheap canonical-base64 check refuses exactly what decoding and re-encoding refuses.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from authchaos.checks import CHECKERS
from authchaos.checks.capacity_knee import Step, capacity, capacity_slos
from authchaos.checks.expectations import Slo
from authchaos_reference.breaker import BreakerState
from authchaos_reference.errors import InvalidToken
from authchaos_reference.jwt_codec import Kind, _check_canonical
from authchaos_reference.overload import LoadMonitor, Overloaded
from authchaos_reference.redis_ops import StoreUnavailable
from tests.support import Running, running_service
from tests.unit.test_checks import H, S


def test_monitor_sheds_beyond_inflight_and_on_sustained_lag_only() -> None:
    load = LoadMonitor(max_inflight=2, max_lag_s=0.1)
    assert load.admit() is None and load.admit() is None
    refused = load.admit()
    assert isinstance(refused, Overloaded) and refused.status == 503 and refused.headers["Retry-After"]
    load.release()
    assert load.admit() is None, "a slot freed is a slot taken"
    load.inflight = 0
    load.late = 1  # one late sample (a GC pause, one batch chunk) is not overload
    assert load.admit() is None
    load.late = 3
    assert isinstance(load.admit(), Overloaded)


async def test_front_sheds_with_503_overloaded_and_retry_after() -> None:
    async with running_service() as svc:
        svc.services.load.max_inflight = 0
        r = await svc.client.post("/auth/login", json={"username": "alice", "password": "wonderland"})
        assert r.status_code == 503 and r.json()["error"] == "overloaded" and r.headers["Retry-After"] == "1"
        assert (await svc.client.get("/health")).status_code == 200, "operators still see the service"
        assert svc.services.load.inflight == 0


async def test_inflight_is_released_whatever_the_answer(svc: Running) -> None:
    await svc.me("not-a-token")
    await svc.client.post("/auth/refresh", content=b"{not json")
    await svc.login()
    assert svc.services.load.inflight == 0


async def _failing(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize(
    ("lagging", "redis_answering", "ours"), [(False, True, False), (True, True, True), (True, False, False)]
)
async def test_a_timeout_is_ours_only_when_the_loop_was_late_and_redis_answers_others(
    svc: Running, lagging: bool, redis_answering: bool, ours: bool
) -> None:
    """A blackholed Redis answers nobody: its timeouts count against it however busy the loop is."""
    ops = svc.services.ops
    await ops.safe_redis_operation("ping", lambda r: r.ping())
    if not redis_answering:
        ops._last_success -= 5
    ops.load.lag_s = 0.15 if lagging else 0.0
    failures = ops.breaker.failures
    with pytest.raises(Overloaded if ours else StoreUnavailable):
        await ops.safe_redis_operation("x", lambda _: _failing(RedisTimeoutError("Timeout reading from socket")))
    assert ops.breaker.failures == failures + (0 if ours else 1)


async def test_an_overloaded_half_open_trial_reopens_the_breaker_so_probes_go_on(svc: Running) -> None:
    ops = svc.services.ops
    await ops.safe_redis_operation("ping", lambda r: r.ping())
    for _ in range(ops.breaker.threshold):
        ops.breaker.record_failure()
    ops.breaker._opened_at -= ops.breaker.reset_s  # the reset time has passed: the next call is the trial
    with pytest.raises(Overloaded):
        await ops.safe_redis_operation("x", lambda _: _failing(MaxConnectionsError("Too many connections")))
    assert ops.breaker.state is BreakerState.OPEN, "never stuck half-open with no trial in flight"


async def test_a_refresh_retried_after_overloaded_completes_the_same_rotation(svc: Running) -> None:
    """The rotation may have run before its reply was read: the retry must not look like reuse."""
    pair = await svc.login()
    store = svc.services.tokens.store
    real = store.rotate

    async def ran_but_answer_lost(*args: Any, **kw: Any) -> Any:
        await real(*args, **kw)
        raise Overloaded("Server busy; retry shortly")

    store.rotate = ran_but_answer_lost  # type: ignore[method-assign]
    first = await svc.refresh(pair["refresh_token"])
    store.rotate = real  # type: ignore[method-assign]
    retry = await svc.refresh(pair["refresh_token"])
    assert first.status_code == 503 and first.json()["error"] == "overloaded"
    assert retry.status_code == 200, retry.text
    assert (await svc.me(pair["access_token"])).status_code == 200, "the session was not revoked"


def test_unsafe_redis_bug_still_surfaces_when_the_loop_lags() -> None:
    async def go() -> None:
        async with running_service(bugs="unsafe_redis") as svc:
            ops = svc.services.ops
            await ops.safe_redis_operation("ping", lambda r: r.ping())
            ops.load.lag_s = 0.2
            with pytest.raises(RedisTimeoutError):
                await ops.safe_redis_operation("x", lambda _: _failing(RedisTimeoutError("t")))

    asyncio.run(go())


async def test_streamed_bodies_over_the_limit_are_413_on_every_route(svc: Running) -> None:
    limit = svc.services.settings.max_body_bytes

    async def chunks() -> Any:
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000

    for path in ("/auth/refresh", "/auth/login"):
        r = await svc.client.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large", (path, r.status_code, r.text)


async def test_an_exhausted_pool_is_overload_not_an_outage(svc: Running) -> None:
    ops = svc.services.ops
    with pytest.raises(Overloaded):
        await ops.safe_redis_operation("x", lambda _: _failing(MaxConnectionsError("Too many connections")))
    assert ops.breaker.failures == 0
    assert await ops.safe_redis_operation("y", lambda _: _failing(MaxConnectionsError("busy")), fallback=7) == 7


async def test_me_is_not_degraded_when_the_service_itself_is_busy(svc: Running) -> None:
    session = await svc.login()
    svc.services.ops.load.lag_s = 0.2

    async def slow(_: Any) -> Any:
        raise RedisTimeoutError("Timeout reading from socket")

    real = svc.services.tokens.store.auth_lookup

    async def lookup(*args: Any) -> Any:
        await svc.services.ops.safe_redis_operation("auth_lookup", slow)
        return await real(*args)

    svc.services.tokens.store.auth_lookup = lookup  # type: ignore[method-assign]
    r = await svc.me(session["access_token"])
    assert r.status_code == 503 and r.json()["error"] == "overloaded", r.text
    assert "x-auth-degraded" not in r.headers


async def test_direct_routes_answer_like_fastapi(svc: Running) -> None:
    """/auth/me and /auth/refresh skip FastAPI's layers; their errors must still be the contract's."""
    cases = [
        (await svc.client.post("/auth/refresh", content=b"{oops"), 400, "bad_request", "not valid JSON"),
        (await svc.client.post("/auth/refresh", json={}), 400, "bad_request", "refresh_token"),
        (await svc.client.post("/auth/refresh", json={"refresh_token": "a.b.c"}), 401, "invalid_token", ""),
        (await svc.client.get("/auth/me"), 401, "invalid_token", "Authorization"),
        (await svc.client.get("/auth/me", headers={"Authorization": "Bearer x.y"}), 401, "invalid_token", ""),
    ]
    for r, status, code, text in cases:
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
        assert text in r.json()["message"]
    schema = (await svc.client.get("/openapi.json")).json()
    assert {"/auth/me", "/auth/refresh"} <= set(schema["paths"]), "the schema still documents them"


async def test_batch_validation_lets_other_requests_run(svc: Running) -> None:
    codec = svc.services.tokens.codec
    tokens: list[object] = [
        codec.encode(Kind.ACCESS, {"sub": "alice", "tokenId": f"t{i}", "family": "f"}, ttl_s=600) for i in range(3000)
    ]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    result = await svc.services.tokens.batch_blacklist_tokens(tokens)
    during = ticks - before
    task.cancel()
    assert result.blacklisted == 3000
    assert during > 3, f"the ticker ran {during} times while 3,000 tokens were validated"


@given(st.binary(max_size=40), st.sampled_from(["", "=", "==", "A", "Q", "g", "B", "z"]))
def test_canonical_check_refuses_exactly_the_non_canonical(raw: bytes, tail: str) -> None:
    segment = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    _check_canonical(segment, may_be_empty=True)  # every canonical spelling passes
    twin = segment[:-1] + tail if segment else tail
    if not twin:
        return
    try:
        decoded = base64.urlsafe_b64decode(twin + "=" * (-len(twin) % 4))
        canonical = base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() == twin
    except ValueError:
        canonical = False
    try:
        _check_canonical(twin)
        accepted = True
    except InvalidToken:
        accepted = False
    assert accepted == canonical, twin


def test_shedding_under_load_is_not_a_server_error_nor_a_policy_breach_but_degrading_still_is() -> None:
    h = H()
    for i in range(20):  # 20 requests in flight at t=1
        h.op("me", 1 + i / 1000, 200, client=i, dur=0.5)
    h.op("me", 1.1, 503, error="overloaded", retry_after="1")
    h.op("login", 1.2, 503, error="overloaded", retry_after="1")
    ctx = h.ctx(shed_min_inflight=16)
    assert CHECKERS["no_server_errors"](ctx).passed
    assert CHECKERS["degradation_policy"](ctx).passed
    h.op("me", 3, 200, degraded=True)  # Redis healthy: a degraded accept is still a breach
    h.op("refresh", 4, 503, error="overloaded")  # no Retry-After: not an explicit shed
    ctx = h.ctx(shed_min_inflight=16)
    assert not CHECKERS["degradation_policy"](ctx).passed
    assert not CHECKERS["no_server_errors"](ctx).passed


def test_shedding_without_load_or_where_none_is_expected_breaks_the_policy() -> None:
    """A service answering "overloaded" to a handful of clients (or to hide an outage) must not pass."""
    h = H()
    h.fault("blackhole", 1, 3)
    h.op("login", 2, 503, error="overloaded", retry_after="1")
    h.op("me", 2.5, 503, error="overloaded", retry_after="1")
    loaded = CHECKERS["degradation_policy"](h.ctx(shed_min_inflight=16))
    assert not loaded.passed and "fewer than 16 requests in flight" in loaded.summary
    scenario = CHECKERS["degradation_policy"](h.ctx())
    assert not scenario.passed and "where no overload was expected" in scenario.summary


def test_capacity_knee_is_the_best_step_within_the_slo() -> None:
    h = H()
    steps = [Step(10, 0, 10 * S), Step(20, 10 * S, 20 * S), Step(40, 20 * S, 30 * S)]
    for step, (per_s, ms, shed) in zip(steps, [(10, 5, 0), (20, 20, 0), (25, 300, 5)], strict=True):
        t0 = step.start_ns / S + 2.5
        for i in range(per_s * 7):
            h.op("me", t0 + i / per_s, 200, dur=ms / 1000)
            h.op("refresh", t0 + i / per_s, 200, dur=ms / 1000)
        for i in range(shed):
            h.op("me", t0 + i, 503, error="overloaded", retry_after="1")
    found = capacity(h.ops, steps, capacity_slos([Slo(op="refresh", p95_ms=10)]))
    me, refresh = found["knees"]["me"], found["knees"]["refresh"]
    assert me is not None and me["users"] == 20 and me["reached"], "40 users broke p95 100 ms and shed"
    assert refresh is not None and refresh["users"] == 10, "the declared refresh SLO (p95 10 ms) wins"
    last = next(r for r in found["steps"] if r["users"] == 40 and r["op"] == "me")
    assert last["shed_ratio"] > 0 and not last["within_slo"]


def test_capacity_section_renders_a_chart_per_endpoint_and_the_table() -> None:
    from authchaos.report.html import _capacity_section

    h = H()
    steps = [Step(10, 0, 10 * S), Step(20, 10 * S, 20 * S)]
    for step in steps:
        for i in range(20):
            h.op("me", step.start_ns / S + 3 + i / 10, 200)
            h.op("refresh", step.start_ns / S + 3 + i / 10, 200)
    html = _capacity_section({"capacity": capacity(h.ops, steps, capacity_slos([]))})
    assert html.count("<svg") == 2 and html.count("<tr>") == 1 + 4 and "Capacity search" in html


def test_a_shed_while_one_huge_request_holds_the_loop_is_saturation_too() -> None:
    """The service's own definition: a loop late by AUTHCHAOS_SHED_LAG_S sheds, with one request in flight (a
    10,000-token batch): a request held that long beside the shed is the evidence. A shed beside fast answers
    only is refusing work it could do."""
    h = H()
    h.op("blacklist_batch", 1, 200, dur=0.8)  # held 800 ms: the loop was behind
    h.op("me", 1.3, 503, error="overloaded", retry_after="1")
    assert CHECKERS["degradation_policy"](h.ctx(shed_min_inflight=16)).passed
    h.op("me", 3, 200, dur=0.01)
    h.op("me", 3.001, 503, error="overloaded", retry_after="1")  # nothing slow in progress: no saturation
    result = CHECKERS["degradation_policy"](h.ctx(shed_min_inflight=16))
    assert not result.passed and "none held 100 ms" in result.summary
