"""The embedded nemesis: faults emulated below a fakeredis client, as the embedded backend runs them."""

from __future__ import annotations

import json
import time

import fakeredis
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from authchaos.faults.embedded import EmbeddedNemesis, FaultyConnection
from authchaos.faults.fault_spec import (
    Bandwidth,
    Blackhole,
    Down,
    FaultEvent,
    Flush,
    Kill,
    Latency,
    ResetPeer,
    Restart,
    Timeout,
)
from authchaos.faults.nemesis import FaultNotSupported, injected
from authchaos.faults.timeline import run_timeline
from authchaos.record.windows import TimelineResult
from tests.support import running_service


def setup(timeout_s: float = 0.3) -> tuple[EmbeddedNemesis, fakeredis.FakeAsyncRedis]:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server, connection_class=FaultyConnection, socket_timeout=timeout_s)
    return EmbeddedNemesis(server), client


async def test_latency_delays_each_reply() -> None:
    nemesis, r = setup()
    with injected(nemesis, Latency(ms=100)):
        started = time.perf_counter()
        await r.ping()
        assert time.perf_counter() - started >= 0.1  # the injected delay, a lower bound (not a speed claim)
    assert not nemesis.faults.active, "removed on exit"
    assert await r.ping()


async def test_blackhole_times_out_at_the_client_timeout_and_the_write_may_have_landed() -> None:
    nemesis, r = setup(timeout_s=0.2)
    await r.ping()  # connected before the fault: the SET itself is sent
    with injected(nemesis, Blackhole()), pytest.raises(RedisTimeoutError):
        await r.set("k", "v")
    assert await r.get("k") == b"v", "the command ran; only its reply was lost (an unknown outcome)"


async def test_timeout_toxic_closes_after_its_delay() -> None:
    nemesis, r = setup(timeout_s=5)
    with injected(nemesis, Timeout(ms=100)), pytest.raises(RedisConnectionError):
        await r.ping()


async def test_down_kill_and_reset_are_connection_errors() -> None:
    for fault in (Down(), Kill(), ResetPeer()):
        nemesis, r = setup()
        with injected(nemesis, fault), pytest.raises(RedisConnectionError):
            await r.ping()
        assert await r.ping()


async def test_restart_into_empty_data_and_flush_wipe() -> None:
    nemesis, r = setup()
    for fault in (Restart(lose_data=True), Flush()):
        await r.set("k", "v")
        with injected(nemesis, fault):
            pass
        assert await r.get("k") is None
    await r.set("k", "v")
    with injected(nemesis, Restart()):
        pass
    assert await r.get("k") == b"v"


def test_faults_without_an_honest_emulation_are_refused_by_name() -> None:
    nemesis, _ = setup()
    assert not nemesis.supports(Bandwidth(rate_kbps=1))
    with pytest.raises(FaultNotSupported, match="bandwidth cannot be emulated"):
        nemesis.start(Bandwidth(rate_kbps=1))


async def test_timeline_reports_skipped_faults_and_rolls_back() -> None:
    nemesis, r = setup()
    result = TimelineResult()
    events = [
        FaultEvent(at=0, **{"for": 0.1}, fault=Bandwidth(rate_kbps=1)),
        FaultEvent(at=0, **{"for": 30}, fault=Down()),
    ]
    import asyncio

    task = asyncio.create_task(run_timeline(nemesis, events, time.monotonic_ns(), result))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "bandwidth" in (result.windows[0].skipped or "")
    assert result.windows[1].start_ns and result.windows[1].end_ns
    assert await r.ping()


async def test_reference_service_degrades_under_an_embedded_blackhole() -> None:
    async with running_service(redis_command_timeout_s=0.2, connection_class=FaultyConnection) as svc:
        pair = await svc.login()
        assert svc.fake is not None
        nemesis = EmbeddedNemesis(svc.fake)
        with injected(nemesis, Blackhole()):
            r = await svc.refresh(pair["refresh_token"])
            assert r.status_code == 503
            me = await svc.me(pair["access_token"])
            assert me.status_code == 200 and me.headers["X-Auth-Degraded"] == "redis-unavailable"


def test_an_embedded_service_kill_drops_every_connection_and_a_restart_starts_afresh() -> None:
    """service_kill on the embedded backend: a request in flight (a refresh waiting on a slow Redis) gets no answer,
    never a 500, nothing listens until the restart, and the restarted service has none of the old one's state."""
    import socket

    import httpx

    from authchaos.sut.inprocess_service import InProcessService
    from authchaos_reference.redis_client import memory_server

    svc = InProcessService(
        "memory://service-kill-test",
        env={"AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S": "3"},
        connection_class=FaultyConnection,
    ).start()
    busy = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    try:
        pair = httpx.post(f"{svc.url}/auth/login", json={"username": "alice", "password": "wonderland"}).json()
        body = json.dumps({"refresh_token": pair["refresh_token"]}).encode()
        with injected(EmbeddedNemesis(memory_server("service-kill-test")), Latency(ms=1500)):
            busy.sendall(
                b"POST /auth/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            time.sleep(0.3)  # the refresh waits on Redis
            before = svc.services
            svc.kill()
        assert not svc.alive()
        try:
            answer = busy.recv(200)
        except ConnectionResetError:
            answer = b""
        assert answer == b"", answer  # no answer at all: a 500 (or any answer) would be a shutdown, not a crash
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{svc.url}/health", timeout=1)
        svc.restart()
        assert httpx.get(f"{svc.url}/health", timeout=5).status_code == 200
        assert svc.services is not before
    finally:
        busy.close()
        svc.stop()


async def test_command_denied_refuses_without_running_and_ends_with_the_fault() -> None:
    """NOPERM as a real ACL answers it: the refused command never runs (its write does not land), inside MULTI
    the transaction is discarded, every other command is served, and the stop lifts it."""
    from redis.exceptions import NoPermissionError, ResponseError

    from authchaos.faults.fault_spec import CommandDenied

    server = fakeredis.FakeServer()
    nemesis = EmbeddedNemesis(server)
    r = fakeredis.FakeAsyncRedis(server=server, connection_class=FaultyConnection)
    fault = CommandDenied(commands=("eval", "set"))
    nemesis.start(fault)
    with pytest.raises(NoPermissionError):
        await r.eval("redis.call('SET', 'k', 'v') return 1", 0)
    with pytest.raises(ResponseError):
        await r.set("k", "v")
    pipe = r.pipeline(transaction=True)
    pipe.incr("n")
    pipe.set("k", "v")
    with pytest.raises(ResponseError):
        await pipe.execute()
    assert await r.get("k") is None and await r.get("n") is None  # nothing refused (or discarded) ran
    nemesis.stop(fault)
    assert await r.set("k", "v") and await r.get("k") == b"v"
    await r.aclose()


def test_command_denied_names_commands() -> None:
    from pydantic import ValidationError

    from authchaos.faults.fault_spec import CommandDenied

    with pytest.raises(ValidationError, match="not a Redis command name"):
        CommandDenied(commands=("eval; flushall",))


def test_an_embedded_service_pause_holds_every_answer_until_resumed_then_answers() -> None:
    """service_pause on the embedded backend: the server's loop is held, so a request sent meanwhile gets no answer
    until ``resume`` (as a SIGSTOPped process's would not), then gets its answer; nothing is lost or refused."""
    import threading

    import httpx

    from authchaos.sut.inprocess_service import InProcessService

    svc = InProcessService("memory://service-pause-test").start()
    try:
        assert httpx.get(f"{svc.url}/health", timeout=5).status_code == 200
        svc.pause()
        time.sleep(0.1)  # the hold is queued on the server's loop: let it begin
        answered: list[tuple[float, int]] = []
        sent = time.monotonic()

        def ask() -> None:
            r = httpx.get(f"{svc.url}/health", timeout=10)
            answered.append((time.monotonic() - sent, r.status_code))

        asker = threading.Thread(target=ask)
        asker.start()
        asker.join(timeout=0.6)
        assert answered == [], "answered while the service was paused"
        svc.resume()
        asker.join(timeout=5)
        assert len(answered) == 1 and answered[0][1] == 200 and answered[0][0] >= 0.6
    finally:
        svc.resume()
        svc.stop()
