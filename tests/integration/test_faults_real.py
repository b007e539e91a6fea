"""Every fault through the real Toxiproxy and the real redis-server, asserted by its effect on a client."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from authchaos.faults.fault_spec import (
    Bandwidth,
    Blackhole,
    Down,
    FaultEvent,
    Flush,
    Freeze,
    Kill,
    Latency,
    LimitData,
    ResetPeer,
    Restart,
    Slicer,
    SlowClose,
    Timeout,
)
from authchaos.faults.nemesis import injected
from authchaos.faults.timeline import run_timeline
from authchaos.pytest_plugin import RedisProxy
from authchaos.record.windows import TimelineResult
from authchaos.servers.redis_server import RedisServer

pytestmark = pytest.mark.integration


def client(url: str, timeout_s: float = 2.0) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=None)


def timed_ping(url: str, timeout_s: float = 2.0) -> float:
    """Seconds a PING took: only ever compared with a delay a fault injected (a lower bound, never a speed claim)."""
    c = client(url, timeout_s)
    try:
        started = time.perf_counter()
        c.ping()
        return time.perf_counter() - started
    finally:
        c.close()


def pings(url: str) -> bool:
    c = client(url, timeout_s=2.0)
    try:
        return bool(c.ping())
    finally:
        c.close()


def assert_clean(proxy: RedisProxy) -> None:
    state = proxy.client.proxies()[proxy.name]
    assert state["enabled"] and state["toxics"] == []
    assert pings(proxy.url)


def test_latency_200ms_makes_a_ping_take_at_least_200ms(redis_proxy: RedisProxy) -> None:
    with injected(redis_proxy.nemesis, Latency(ms=200)):
        assert timed_ping(redis_proxy.url) >= 0.2
        toxics = redis_proxy.client.toxics(redis_proxy.name)
        assert sorted(t["stream"] for t in toxics.values()) == ["downstream", "upstream"]
    assert_clean(redis_proxy)


def test_blackhole_makes_the_client_give_up_within_its_timeout(redis_proxy: RedisProxy) -> None:
    c = client(redis_proxy.url, timeout_s=0.5)
    c.ping()
    with injected(redis_proxy.nemesis, Blackhole()), pytest.raises(redis.TimeoutError):
        c.ping()  # a timeout, not a reset: the bytes vanished and the client's own timeout ended the wait
    c.close()
    assert_clean(redis_proxy)


def test_timeout_toxic_closes_the_connection_after_its_delay(redis_proxy: RedisProxy) -> None:
    with injected(redis_proxy.nemesis, Timeout(ms=300)):
        started = time.perf_counter()
        with pytest.raises(redis.ConnectionError):
            client(redis_proxy.url, timeout_s=5).ping()
        assert time.perf_counter() - started >= 0.25
    assert_clean(redis_proxy)


def test_proxy_down_is_a_connection_error(redis_proxy: RedisProxy) -> None:
    with injected(redis_proxy.nemesis, Down()), pytest.raises(redis.ConnectionError):
        client(redis_proxy.url).ping()
    assert_clean(redis_proxy)


def test_reset_peer_resets(redis_proxy: RedisProxy) -> None:
    with injected(redis_proxy.nemesis, ResetPeer(timeout_ms=0)), pytest.raises(redis.ConnectionError):
        client(redis_proxy.url).ping()
    assert_clean(redis_proxy)


def test_limit_data_closes_after_the_byte_budget(redis_proxy: RedisProxy) -> None:
    c = client(redis_proxy.url)
    c.set("big", "x" * 10_000)
    c.close()
    with injected(redis_proxy.nemesis, LimitData(bytes=1000)), pytest.raises(redis.ConnectionError):
        client(redis_proxy.url).get("big")
    assert_clean(redis_proxy)


def test_bandwidth_slows_large_replies(redis_proxy: RedisProxy) -> None:
    c = client(redis_proxy.url)
    c.set("big", "x" * 60_000)
    c.close()
    with injected(redis_proxy.nemesis, Bandwidth(rate_kbps=100)):
        c = client(redis_proxy.url, timeout_s=5)
        started = time.perf_counter()
        assert len(c.get("big")) == 60_000
        assert time.perf_counter() - started >= 0.4  # 60 KB at 100 KB/s
        c.close()
    assert_clean(redis_proxy)


def test_slicer_and_slow_close_keep_answers_correct(redis_proxy: RedisProxy) -> None:
    c = client(redis_proxy.url)
    c.set("k", "v" * 500)
    c.close()
    for fault in (Slicer(average_size=8, size_variation=4, delay_us=100), SlowClose(delay_ms=100)):
        with injected(redis_proxy.nemesis, fault):
            c = client(redis_proxy.url)
            assert c.get("k") == b"v" * 500
            c.close()
    assert_clean(redis_proxy)


def test_process_faults(redis_proxy: RedisProxy, fresh_redis: RedisServer) -> None:
    client(redis_proxy.url).set("k", "1")
    with injected(redis_proxy.nemesis, Kill()):
        assert not fresh_redis.alive()
        with pytest.raises(redis.ConnectionError):
            client(redis_proxy.url).ping()
    assert fresh_redis.alive() and pings(redis_proxy.url)
    with injected(redis_proxy.nemesis, Freeze()), pytest.raises(redis.TimeoutError):
        client(redis_proxy.url, timeout_s=0.3).ping()
    client(redis_proxy.url).set("k", "1")
    with injected(redis_proxy.nemesis, Restart(lose_data=True)):
        pass
    assert client(redis_proxy.url).get("k") is None
    client(redis_proxy.url).set("k", "1")
    with injected(redis_proxy.nemesis, Flush()):
        assert client(redis_proxy.url).get("k") is None


def test_restart_with_aof_keeps_acknowledged_writes() -> None:
    with RedisServer(aof=True, appendfsync="always") as server:
        c = client(server.url)
        c.set("revoked", "1")
        c.close()
        server.kill()
        server.restart()
        assert client(server.url).get("revoked") == b"1"


def test_rollback_undoes_everything_even_without_bookkeeping(redis_proxy: RedisProxy, fresh_redis: RedisServer) -> None:
    nemesis = redis_proxy.nemesis
    nemesis.start(Latency(ms=100))
    nemesis.start(Down())
    fresh_redis.pause()
    nemesis._toxics.clear()  # simulate a crashed run that lost its records
    undone = nemesis.rollback()
    assert any("latency" in u for u in undone) and "redis/resumed" in undone
    assert_clean(redis_proxy)


async def test_timeline_schedules_and_records_windows(redis_proxy: RedisProxy) -> None:
    events = [
        FaultEvent(at=0.1, **{"for": 0.3}, fault=Latency(ms=100)),
        FaultEvent(at=0.2, fault=Restart()),
    ]
    result = TimelineResult()
    t0 = time.monotonic_ns()
    await run_timeline(redis_proxy.nemesis, events, t0, result)
    latency, restart = result.windows
    assert latency.start_ns is not None and latency.end_ns is not None
    assert (latency.end_ns - latency.start_ns) / 1e9 >= 0.3 - 0.05, "held for its declared 0.3 s"
    assert (latency.start_ns - t0) / 1e9 >= 0.1, "not started before its time"
    assert restart.start_ns is not None and restart.skipped is None
    assert result.rollback == []
    assert_clean(redis_proxy)


async def test_cancelled_timeline_still_rolls_back(redis_proxy: RedisProxy) -> None:
    result = TimelineResult()
    task = asyncio.create_task(
        run_timeline(redis_proxy.nemesis, [FaultEvent(at=0, **{"for": 30}, fault=Down())], time.monotonic_ns(), result)
    )
    await asyncio.sleep(0.3)
    assert not redis_proxy.client.proxies()[redis_proxy.name]["enabled"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert result.windows[0].end_ns is not None
    assert_clean(redis_proxy)


def test_command_denied_is_a_real_acl_refusal_and_rollback_lifts_it(redis_proxy: RedisProxy) -> None:
    """Through the proxy, as the service sees it: EVAL answers NOPERM without running, GET and SET answer;
    a run that dies mid-fault leaves no ACL change behind (rollback)."""
    from authchaos.faults.fault_spec import CommandDenied

    c = client(redis_proxy.url)
    redis_proxy.nemesis.start(CommandDenied())
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.eval("redis.call('SET', 'k', 'from-script') return 1", 0)
    assert c.set("k", "v") and c.get("k") == b"v"
    assert "redis/acl-restored" in redis_proxy.nemesis.rollback()
    assert c.eval("return 7", 0) == 7
