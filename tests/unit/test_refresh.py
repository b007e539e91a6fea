"""Refresh rotation, reuse detection, grace window and legacy upgrades (fakeredis)."""

from __future__ import annotations

import asyncio
import time

from authchaos_reference.jwt_codec import Kind
from tests.support import Running, running_service


async def test_rotation_then_replay_revokes_the_whole_family(svc: Running) -> None:
    first = await svc.login()
    second = (await svc.refresh(first["refresh_token"])).json()
    replay = await svc.refresh(first["refresh_token"])
    assert replay.status_code == 401 and replay.json()["error"] == "token_reused"
    newest = await svc.refresh(second["refresh_token"])
    assert newest.status_code == 401 and newest.json()["error"] == "token_revoked"
    assert (await svc.me(second["access_token"])).status_code == 401, "access tokens of the family die too"


async def test_each_refresh_token_is_accepted_once_and_chain_continues(svc: Running) -> None:
    pair = await svc.login()
    for _ in range(5):
        r = await svc.refresh(pair["refresh_token"])
        assert r.status_code == 200
        pair = r.json()
    assert (await svc.me(pair["access_token"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_mint_once_without_grace(svc: Running) -> None:
    pair = await svc.login()
    answers = await asyncio.gather(*(svc.refresh(pair["refresh_token"]) for _ in range(8)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(200) == 1, statuses


async def test_grace_window_covers_only_the_previous_token() -> None:
    async with running_service(reuse_grace_s=30) as svc:
        t0 = await svc.login()
        t1 = (await svc.refresh(t0["refresh_token"])).json()
        # a second tab refreshes with t0 inside the window: it gets a sibling of t1, not a reuse error
        sibling = await svc.refresh(t0["refresh_token"])
        assert sibling.status_code == 200
        t2 = (await svc.refresh(t1["refresh_token"])).json()
        # t0 is now two rotations old: outside the "previous token" rule even inside the time window
        old = await svc.refresh(t0["refresh_token"])
        assert old.status_code == 401 and old.json()["error"] == "token_reused"
        assert (await svc.refresh(t2["refresh_token"])).json()["error"] == "token_revoked"


async def test_grace_window_expires() -> None:
    async with running_service(reuse_grace_s=0.2) as svc:
        t0 = await svc.login()
        await svc.refresh(t0["refresh_token"])
        await asyncio.sleep(0.3)
        assert (await svc.refresh(t0["refresh_token"])).json()["error"] == "token_reused"


def _legacy_refresh(svc: Running, **extra: object) -> str:
    s = svc.services.settings
    now = int(time.time())
    payload = {"sub": "alice", "iat": now, "exp": now + 3600, "iss": s.issuer, "aud": s.audience, **extra}
    return svc.services.tokens.codec.sign_raw(Kind.REFRESH, payload)


async def test_legacy_refresh_token_is_upgraded_once(svc: Running) -> None:
    legacy = _legacy_refresh(svc)
    first = await svc.refresh(legacy)
    assert first.status_code == 200
    claims = svc.services.tokens.codec.verify(first.json()["refresh_token"], Kind.REFRESH).claims
    assert claims["type"] == "refresh" and claims["family"] and claims["tokenId"]
    second = await svc.refresh(legacy)
    assert second.status_code == 401 and second.json()["error"] == "token_reused"
    # RFC 9700 4.14.2: the replay revokes the session the legacy token was upgraded into
    assert (await svc.refresh(first.json()["refresh_token"])).status_code == 401


async def test_type_without_family_is_treated_as_legacy(svc: Running) -> None:
    token = _legacy_refresh(svc, type="refresh")
    assert (await svc.refresh(token)).status_code == 200
    assert (await svc.refresh(token)).json()["error"] == "token_reused"


async def test_strict_type_bug_rejects_legacy_tokens() -> None:
    async with running_service(bugs="strict_type") as svc:
        r = await svc.refresh(_legacy_refresh(svc))
        assert r.status_code == 401
        assert r.json() == {"error": "invalid_token", "message": "Invalid token type for refresh"}


async def test_access_token_on_refresh_path_says_invalid_type(svc: Running) -> None:
    pair = await svc.login()
    r = await svc.refresh(pair["access_token"])
    assert r.json() == {"error": "invalid_token", "message": "Invalid token type for refresh"}


async def test_refresh_fails_closed_while_redis_is_down(svc: Running) -> None:
    pair = await svc.login()
    svc.redis_down()
    r = await svc.refresh(pair["refresh_token"])
    assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
    assert int(r.headers["Retry-After"]) >= 1
    svc.redis_up()
    assert (await svc.refresh(pair["refresh_token"])).status_code == 200, "the unrotated token still works"


async def test_unknown_family_is_refused_unless_issued_as_fallback(svc: Running) -> None:
    pair = await svc.login()
    await svc.services.ops.client.flushall()  # Redis restarted into empty data
    r = await svc.refresh(pair["refresh_token"])
    assert r.status_code == 401 and r.json()["error"] == "token_revoked"


async def test_expired_and_garbage_refresh_tokens(svc: Running) -> None:
    codec = svc.services.tokens.codec
    claims = {"sub": "alice", "tokenId": "t", "family": "f"}
    expired = codec.encode(Kind.REFRESH, claims, ttl_s=1, now=time.time() - 100)
    assert (await svc.refresh(expired)).json()["error"] == "token_expired"
    assert (await svc.refresh("garbage")).json() == {"error": "invalid_token", "message": "Malformed token"}
    r = await svc.client.post("/auth/refresh", json={})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
