"""The reference service against a real redis-server: rotation, outages, reconnects, batch revocation."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from authchaos.servers.redis_server import RedisServer, redis_command
from authchaos_reference.errors import INVALID_TYPE_FOR_REFRESH
from tests.support import Running, running_service

pytestmark = pytest.mark.integration

FAST_FAILURE = {"redis_command_timeout_s": 1.0, "redis_connect_timeout_s": 1.0, "breaker_reset_s": 0.2}


async def wait_for(check, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_login_refresh_replay_revokes_family_on_real_redis(fresh_redis: RedisServer) -> None:
    async with running_service(redis_url=fresh_redis.url) as svc:
        first = await svc.login()
        second = await svc.refresh(first["refresh_token"])
        assert second.status_code == 200
        replay = await svc.refresh(first["refresh_token"])
        assert replay.status_code == 401 and replay.json()["error"] == "token_reused"
        newest = await svc.refresh(second.json()["refresh_token"])
        assert newest.status_code == 401 and newest.json()["error"] == "token_revoked"
        assert int(redis_command("127.0.0.1", fresh_redis.port, "DBSIZE")[1:].split(b"\r")[0]) > 0


async def test_service_reconnects_by_itself_after_redis_is_killed_and_restarted(fresh_redis: RedisServer) -> None:
    async with running_service(redis_url=fresh_redis.url, **FAST_FAILURE) as svc:
        pair = await svc.login()
        fresh_redis.kill()
        outage = await svc.refresh(pair["refresh_token"])
        assert outage.status_code == 503 and outage.json()["error"] == "store_unavailable"
        me = await svc.me(pair["access_token"])
        assert me.status_code == 200 and me.headers["X-Auth-Degraded"] == "redis-unavailable"
        fresh_redis.restart()  # no persistence: the family is gone, so log in again

        async def healthy() -> bool:
            return (await svc.client.get("/health")).json()["redis"]["state"] == "ready"

        assert await wait_for(healthy), "the probe should bring the client back without help"
        again = await svc.login()
        assert (await svc.refresh(again["refresh_token"])).status_code == 200


async def test_outage_costs_milliseconds_once_the_breaker_is_open(fresh_redis: RedisServer) -> None:
    async with running_service(redis_url=fresh_redis.url, breaker_reset_s=30, redis_command_timeout_s=1.0) as svc:
        pair = await svc.login()
        fresh_redis.pause()
        try:
            for _ in range(3):  # each waits the 1 s command timeout; then the breaker opens
                assert (await svc.refresh(pair["refresh_token"])).status_code == 503
            before = svc.services.metrics.ops_count("rotate", "short_circuit")
            r = await svc.refresh(pair["refresh_token"])
        finally:
            fresh_redis.resume()
        assert r.status_code == 503 and r.headers["Retry-After"]
        # The behaviour, not a stopwatch: the call never went to Redis (make bench measures what it saves).
        assert svc.services.metrics.ops_count("rotate", "short_circuit") == before + 1


async def _oauth_login_while_redis_is_dead(svc: Running, server: RedisServer) -> dict:
    server.kill()
    r = await svc.oauth()
    assert r.status_code == 200
    server.restart()

    async def healthy() -> bool:
        return (await svc.client.get("/health")).json()["redis"]["state"] == "ready"

    assert await wait_for(healthy)
    return (await svc.refresh(r.json()["refresh_token"])).json()


async def test_headline_regression_on_real_redis(fresh_redis: RedisServer) -> None:
    async with running_service(redis_url=fresh_redis.url, bugs="legacy_fallback_tokens", **FAST_FAILURE) as svc:
        body = await _oauth_login_while_redis_is_dead(svc, fresh_redis)
        assert body == {"error": "invalid_token", "message": INVALID_TYPE_FOR_REFRESH}
    fresh_redis.flush()
    async with running_service(redis_url=fresh_redis.url, **FAST_FAILURE) as svc:
        body = await _oauth_login_while_redis_is_dead(svc, fresh_redis)
        assert body.get("token_type") == "Bearer", body


async def test_blacklisting_10000_tokens_is_one_request_and_one_round_trip_per_chunk(fresh_redis: RedisServer) -> None:
    async with running_service(redis_url=fresh_redis.url) as svc:
        admin = await svc.login("admin", "admin-secret")
        tokens = [svc.services.tokens.mint("alice", f"fam{i}", f"rt{i}").access_token for i in range(10_000)]
        await svc.me(admin["access_token"])  # warm the user cache so only revocations write below
        redis_command("127.0.0.1", fresh_redis.port, "CONFIG", "RESETSTAT")
        r = await svc.client.post(
            "/auth/blacklist", json={"tokens": tokens}, headers={"Authorization": f"Bearer {admin['access_token']}"}
        )
        assert r.status_code == 200 and r.json() == {"blacklisted": 10_000, "expired": 0, "invalid": 0}
        chunk = svc.services.settings.blacklist_chunk
        assert svc.services.metrics.ops_count("blacklist_chunk") == math.ceil(10_000 / chunk)
        stats = redis_command("127.0.0.1", fresh_redis.port, "INFO", "commandstats").decode()
        set_calls = int(stats.split("cmdstat_set:calls=")[1].split(",")[0])
        assert set_calls == 10_000
        tokens_again = await svc.client.post(
            "/auth/blacklist",
            json={"tokens": tokens[:10]},
            headers={"Authorization": f"Bearer {admin['access_token']}"},
        )
        assert tokens_again.json()["blacklisted"] == 10


async def test_reference_service_over_tls_to_a_real_redis() -> None:
    with RedisServer(tls=True) as server:
        assert server.url.startswith("rediss://") and server.tls is not None
        async with running_service(redis_url=server.url, redis_tls_ca=str(server.tls.ca)) as svc:
            pair = await svc.login()
            assert (await svc.refresh(pair["refresh_token"])).status_code == 200
            assert (await svc.client.get("/health")).json()["redis"]["state"] == "ready"
        async with running_service(redis_url=server.url, **FAST_FAILURE) as untrusted:  # no CA: must not connect
            assert (await untrusted.client.get("/health")).json()["redis"]["state"] != "ready"
            r = await untrusted.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert r.status_code == 503
