"""The degradation policy while Redis is unreachable (fakeredis connection errors)."""

from __future__ import annotations

import asyncio

from authchaos_reference.errors import INVALID_TYPE_FOR_REFRESH
from authchaos_reference.jwt_codec import Kind
from tests.support import Running, running_service


async def test_me_is_degraded_within_window_then_503() -> None:
    async with running_service(degraded_max_s=0.3, breaker_reset_s=0.1) as svc:
        pair = await svc.login()
        svc.redis_down()
        r = await svc.me(pair["access_token"])
        assert r.status_code == 200 and r.headers["X-Auth-Degraded"] == "redis-unavailable"
        await asyncio.sleep(0.4)
        r = await svc.me(pair["access_token"])
        assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
        svc.redis_up()
        await asyncio.sleep(0.3)  # breaker reset + recovery probe
        r = await svc.me(pair["access_token"])
        assert r.status_code == 200 and "X-Auth-Degraded" not in r.headers


async def test_degraded_mode_honours_this_process_revocations(svc: Running) -> None:
    pair = await svc.login()
    r = await svc.client.post("/auth/logout", headers={"Authorization": f"Bearer {pair['access_token']}"}, json={})
    assert r.status_code == 200
    svc.redis_down()
    assert (await svc.me(pair["access_token"])).status_code == 401


async def test_revocation_writes_fail_closed(svc: Running) -> None:
    admin = await svc.login("admin", "admin-secret")
    pair = await svc.login()
    svc.redis_down()
    auth = {"Authorization": f"Bearer {admin['access_token']}"}
    r = await svc.client.post("/auth/blacklist", json={"tokens": [pair["access_token"]]}, headers=auth)
    assert r.status_code == 503
    r = await svc.client.post("/auth/logout", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
    svc.redis_up()
    assert (await svc.me(pair["access_token"])).status_code == 200, "nothing was acknowledged, nothing revoked"


async def test_login_during_outage_issues_well_formed_fallback_tokens(svc: Running) -> None:
    svc.redis_down()
    pair = await svc.login()
    codec = svc.services.tokens.codec
    claims = codec.verify(pair["refresh_token"], Kind.REFRESH).claims
    assert claims["type"] == "refresh" and claims["tokenId"] and claims["family"] and claims["fb"] is True
    assert len(svc.services.auth.pending) == 1
    svc.redis_up()
    r = await svc.refresh(pair["refresh_token"])
    assert r.status_code == 200
    assert (await svc.refresh(pair["refresh_token"])).json()["error"] == "token_reused"


async def test_pending_families_are_registered_when_redis_returns(svc: Running) -> None:
    svc.redis_down()
    pair = await svc.login()
    svc.redis_up()
    for _ in range(40):
        if not svc.services.auth.pending:
            break
        await asyncio.sleep(0.05)
    assert not svc.services.auth.pending
    family = svc.services.tokens.codec.verify(pair["refresh_token"], Kind.REFRESH).claims["family"]
    assert await svc.services.ops.client.hget(f"ac:fam:{family}", "sub") == "alice"


async def _oauth_during_outage_then_refresh(svc: Running) -> dict:
    svc.redis_down()
    r = await svc.oauth()
    assert r.status_code == 200
    svc.redis_up()
    return (await svc.refresh(r.json()["refresh_token"])).json()


async def test_headline_regression_with_and_without_the_bug() -> None:
    async with running_service(bugs="legacy_fallback_tokens") as buggy:
        assert await _oauth_during_outage_then_refresh(buggy) == {
            "error": "invalid_token",
            "message": INVALID_TYPE_FOR_REFRESH,
        }
    async with running_service() as fixed:
        body = await _oauth_during_outage_then_refresh(fixed)
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}


async def test_breaker_short_circuits_during_outage() -> None:
    async with running_service(breaker_failure_threshold=2, breaker_reset_s=5) as svc:
        pair = await svc.login()
        svc.redis_down()
        for _ in range(5):
            await svc.refresh(pair["refresh_token"])
        m = svc.services.metrics
        assert m.ops_count("rotate", "error") == 2
        assert m.ops_count("rotate", "short_circuit") == 3
        health = (await svc.client.get("/health")).json()
        assert health["status"] == "degraded" and health["redis"]["state"] == "down"
        assert health["redis"]["breaker"] == "open"


async def test_no_breaker_bug_sends_every_call_to_redis() -> None:
    async with running_service(bugs="no_breaker", breaker_failure_threshold=2) as svc:
        pair = await svc.login()
        svc.redis_down()
        for _ in range(5):
            await svc.refresh(pair["refresh_token"])
        assert svc.services.metrics.ops_count("rotate", "error") == 5


async def test_unsafe_redis_bug_turns_outages_into_500() -> None:
    async with running_service(bugs="unsafe_redis") as svc:
        pair = await svc.login()
        svc.redis_down()
        r = await svc.refresh(pair["refresh_token"])
        assert r.status_code == 500 and r.json()["error"] == "internal_error"


async def test_no_reconnect_bug_never_recovers() -> None:
    async with running_service(bugs="no_reconnect", breaker_reset_s=0.05) as svc:
        pair = await svc.login()
        svc.redis_down()
        await svc.refresh(pair["refresh_token"])
        svc.redis_up()
        await asyncio.sleep(0.2)
        assert (await svc.refresh(pair["refresh_token"])).status_code == 503
    async with running_service(breaker_reset_s=0.05) as svc:
        pair = await svc.login()
        svc.redis_down()
        await svc.refresh(pair["refresh_token"])
        svc.redis_up()
        await asyncio.sleep(0.2)
        assert (await svc.refresh(pair["refresh_token"])).status_code == 200


async def test_no_500_from_any_route_during_an_outage(svc: Running) -> None:
    admin = await svc.login("admin", "admin-secret")
    pair = await svc.login()
    svc.redis_down()
    calls = [
        svc.client.post("/auth/login", json={"username": "alice", "password": "wonderland"}),
        svc.refresh(pair["refresh_token"]),
        svc.me(pair["access_token"]),
        svc.client.post("/auth/logout", headers={"Authorization": f"Bearer {pair['access_token']}"}, json={}),
        svc.client.post(
            "/auth/blacklist", json={"tokens": ["x"]}, headers={"Authorization": f"Bearer {admin['access_token']}"}
        ),
        svc.oauth(),
        svc.client.get("/health"),
        svc.client.get("/metrics"),
    ]
    for call in calls:
        r = await call
        assert r.status_code < 500 or r.status_code == 503, (r.request.url, r.status_code, r.text)
