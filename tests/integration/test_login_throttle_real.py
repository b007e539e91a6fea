"""Brute-force limits against a real redis-server: shared by every instance on one Redis, and kept in-process by
the real service (``authchaos serve``) once that Redis is gone. Loopback only; every loop bounded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from redis.crc import key_slot

from authchaos.run.infrastructure import InfraOptions, Infrastructure
from authchaos.servers.redis_server import RedisServer
from authchaos.sut.service_process import AuthServiceProcess
from tests.unit.test_login_throttle import RIGHT, WRONG, service, throttled

pytestmark = pytest.mark.integration


async def test_two_instances_on_one_redis_enforce_each_others_limits(fresh_redis: RedisServer) -> None:
    shared = {"redis_url": fresh_redis.url, "login_max_failures_per_account": 10}
    async with service(**shared) as one, service(**shared) as other:
        assert (await one.post(RIGHT, "192.0.2.1")).status_code == 200  # known to alice, learnt through one
        assert await one.statuses(WRONG, "10.0.0.1", 3) == [401] * 3
        assert await other.statuses(WRONG, "10.0.0.1", 2) == [401] * 2
        throttled(await other.post(RIGHT, "10.0.0.1"))  # five failures in all: the pair is locked on both
        throttled(await one.post(WRONG, "10.0.0.1"))
        assert await one.statuses(WRONG, "10.0.0.2", 5) == [401] * 5  # ten for the account
        throttled(await other.post(RIGHT, "10.0.0.3"), window_s=3600)
        assert (await other.post(RIGHT, "192.0.2.1")).status_code == 200, "a known address, whichever instance"
        keys = [k async for k in one.services.ops.client.scan_iter("ac:l*")]
        assert keys and all([await one.services.ops.client.ttl(k) > 0 for k in keys]), keys


async def test_on_a_cluster_the_account_keys_share_a_slot_and_the_limits_hold() -> None:
    """Every script touches one slot (the account's tag, or the address's own); the check's pipeline spans both."""
    with Infrastructure(InfraOptions(backend="real", topology="cluster")) as cluster:
        fast = {"redis_command_timeout_s": 0.5, "redis_connect_timeout_s": 0.5, "login_max_failures_per_account": 8}
        async with service(redis_url=cluster.service_redis_url, **fast) as svc:
            assert (await svc.post(RIGHT, "192.0.2.1")).status_code == 200
            assert await svc.statuses(WRONG, "10.0.0.1", 6) == [401] * 5 + [429]
            assert await svc.statuses(WRONG, "10.0.0.2", 4) == [401] * 3 + [429]  # eight for the account
            throttled(await svc.post(RIGHT, "10.0.0.3"), window_s=3600)
            assert (await svc.post(RIGHT, "192.0.2.1")).status_code == 200
            keys = [k async for k in svc.services.ops.client.scan_iter(match="ac:*")]
    throttle = [k for k in keys if k.split("}:", 1)[-1].split(":")[0] in {"lfc", "lfu", "lfa", "lka"}]
    assert len(throttle) == 6, keys  # two client counters, the account's counter and known set, two addresses
    slots: dict[str, set[int]] = {}
    for key in throttle:
        slots.setdefault(key.split("}", 1)[0], set()).add(key_slot(key.encode()))
    account = hashlib.sha256(b"alice").hexdigest()[:32]
    assert set(slots) == {"ac:{a:10.0.0.1", "ac:{a:10.0.0.2", f"ac:{{u:{account}"}, slots
    assert all(len(s) == 1 for s in slots.values()), slots


def test_the_real_service_without_redis_never_fails_a_login_and_still_limits(tmp_path: Path) -> None:
    env = {"AUTHCHAOS_LOGIN_CLIENT_HEADER": "x-forwarded-for"}  # one socket address here: clients by header
    with (
        RedisServer() as redis,
        AuthServiceProcess(redis.url, env=env, log_dir=tmp_path) as served,
        httpx.Client(base_url=served.url, timeout=10) as c,
    ):

        def login(body: dict[str, str], address: str) -> httpx.Response:
            return c.post("/auth/login", json=body, headers={"X-Forwarded-For": address})

        assert login(RIGHT, "203.0.113.1").status_code == 200
        redis.stop()
        answers = [login(RIGHT, "203.0.113.2")]
        answers += [login(WRONG, "198.51.100.1") for _ in range(7)]
        answers.append(login(RIGHT, "198.51.100.1"))
        assert all(a.status_code < 500 for a in answers), [(a.status_code, a.text) for a in answers]
        assert answers[0].status_code == 200 and answers[0].json()["access_token"]
        assert [a.status_code for a in answers[1:6]] == [401] * 5
        for answer in answers[6:]:
            throttled(answer)
        assert login(RIGHT, "203.0.113.3").status_code == 200, "another client is not throttled"
    log = (tmp_path / "service.log").read_text()
    assert "Traceback" not in log, log[-2000:]
