"""Overload on a real service process and a real redis-server: shed explicitly, never degrade."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from authchaos.servers.redis_server import RedisServer
from authchaos.sut.service_process import AuthServiceProcess

pytestmark = pytest.mark.integration


async def _login(c: httpx.AsyncClient, user: str, password: str) -> str:
    r = await c.post("/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def test_beyond_max_inflight_the_service_sheds_and_does_not_degrade(fresh_redis: RedisServer) -> None:
    """Two 10,000-token batches hold both slots; a /auth/me meanwhile gets 503 overloaded, not a degraded 200."""
    with AuthServiceProcess(fresh_redis.url, env={"AUTHCHAOS_MAX_INFLIGHT": "2"}) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as c:
            admin, alice = await _login(c, "admin", "admin-secret"), await _login(c, "alice", "wonderland")
            batch, as_admin = {"tokens": [alice] * 10_000}, {"Authorization": f"Bearer {admin}"}
            heavy = [asyncio.create_task(c.post("/auth/blacklist", json=batch, headers=as_admin)) for _ in range(2)]
            health = {}
            for _ in range(200):  # until both batches are in progress (bounded)
                health = (await c.get("/health")).json()
                if health["load"]["inflight"] >= 2 or all(t.done() for t in heavy):
                    break
                await asyncio.sleep(0.005)
            me = await c.get("/auth/me", headers={"Authorization": f"Bearer {alice}"})
            answers = await asyncio.gather(*heavy)
            after = (await c.get("/health")).json()
    assert health["load"]["inflight"] >= 2, "both batches were in progress when /auth/me was sent"
    assert me.status_code == 503 and me.json()["error"] == "overloaded" and me.headers["Retry-After"]
    assert "x-auth-degraded" not in me.headers
    assert [a.status_code for a in answers] == [200, 200]
    assert after["redis"] == {"state": "ready", "breaker": "closed", "outage_s": None}, "Redis was never blamed"
    assert after["load"]["shed"] >= 1 and after["load"]["inflight"] == 0
