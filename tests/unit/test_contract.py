"""The HTTP contract: shapes, codes and error bodies, route by route (fakeredis)."""

from __future__ import annotations

import json
import math
import time

import pytest

from authchaos_reference.jwt_codec import Kind
from tests.support import Running, running_service


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_shape_and_bad_credentials(svc: Running) -> None:
    pair = await svc.login()
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900
    for body in ({"username": "alice", "password": "nope"}, {"username": "nobody", "password": "x"}):
        r = await svc.client.post("/auth/login", json=body)
        assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "not valid JSON"), (b'{"username": 3}', "username"), (b"[]", "body")],
)
async def test_bad_bodies_are_400_with_a_message(svc: Running, content: bytes, fragment: str) -> None:
    r = await svc.client.post("/auth/login", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "bad_request" and fragment in body["message"]


async def test_me_returns_the_user_and_rejects_bad_tokens(svc: Running) -> None:
    pair = await svc.login()
    assert (await svc.me(pair["access_token"])).json() == {"sub": "alice", "username": "alice", "roles": ["user"]}
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("x.y.z"), bearer(pair["refresh_token"])):
        r = await svc.client.get("/auth/me", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", headers
    expired = svc.services.tokens.codec.encode(Kind.ACCESS, {"sub": "alice"}, ttl_s=1, now=time.time() - 60)
    assert (await svc.me(expired)).json()["error"] == "token_expired"


async def test_me_takes_roles_from_the_directory_never_from_redis(svc: Running) -> None:
    """A user record left in Redis (by an older version, or planted) grants nothing."""
    pair = await svc.login()
    planted = '{"sub": "alice", "username": "alice", "roles": ["admin"]}'
    await svc.services.ops.client.set("ac:usercache:alice", planted)
    assert (await svc.me(pair["access_token"])).json()["roles"] == ["user"]
    r = await svc.client.post("/auth/blacklist", headers=bearer(pair["access_token"]), json={"tokens": []})
    assert r.status_code == 403


async def test_logout_revokes_the_session_and_logout_all_every_session(svc: Running) -> None:
    a, b, c = await svc.login(), await svc.login(), await svc.login()
    body = {"refresh_token": a["refresh_token"]}
    r = await svc.client.post("/auth/logout", headers=bearer(a["access_token"]), json=body)
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    assert (await svc.me(a["access_token"])).status_code == 401
    assert (await svc.refresh(a["refresh_token"])).json()["error"] == "token_revoked"
    assert (await svc.me(b["access_token"])).status_code == 200
    r = await svc.client.post("/auth/logout", headers=bearer(b["access_token"]), json={"all": True})
    assert r.json()["revoked"] >= 2
    for pair in (b, c):
        assert (await svc.refresh(pair["refresh_token"])).json()["error"] == "token_revoked"
        assert (await svc.me(pair["access_token"])).status_code == 401


async def test_logout_with_someone_elses_refresh_token_ends_only_the_callers_session(svc: Running) -> None:
    alice, admin = await svc.login(), await svc.login("admin", "admin-secret")
    r = await svc.client.post(
        "/auth/logout", headers=bearer(alice["access_token"]), json={"refresh_token": admin["refresh_token"]}
    )
    assert r.status_code == 200
    assert r.json()["not_revoked"] == {"refresh_token": "not revoked: it belongs to another user"}
    assert (await svc.me(alice["access_token"])).status_code == 401
    assert (await svc.refresh(alice["refresh_token"])).status_code == 401
    assert (await svc.refresh(admin["refresh_token"])).status_code == 200, "another user's session is not touched"


async def test_blacklist_counts_admin_only_and_limit() -> None:
    async with running_service(blacklist_max=50) as svc:
        admin, alice = await svc.login("admin", "admin-secret"), await svc.login()
        codec = svc.services.tokens.codec
        expired = codec.encode(Kind.ACCESS, {"sub": "alice", "tokenId": "e"}, ttl_s=1, now=time.time() - 3600)
        tokens = [alice["access_token"], alice["refresh_token"], expired, "junk", alice["access_token"]]
        r = await svc.client.post("/auth/blacklist", json={"tokens": tokens}, headers=bearer(admin["access_token"]))
        assert r.status_code == 200 and r.json() == {"blacklisted": 3, "expired": 1, "invalid": 1}
        again = await svc.client.post("/auth/blacklist", json={"tokens": tokens}, headers=bearer(admin["access_token"]))
        assert again.json() == r.json(), "idempotent"
        assert (await svc.me(alice["access_token"])).status_code == 401
        assert (await svc.refresh(alice["refresh_token"])).json()["error"] == "token_revoked"
        other = await svc.login()
        r = await svc.client.post("/auth/blacklist", json={"tokens": []}, headers=bearer(other["access_token"]))
        assert r.status_code == 403
        r = await svc.client.post("/auth/blacklist", json={"tokens": ["x"] * 51}, headers=bearer(admin["access_token"]))
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


async def test_batch_blacklist_is_one_round_trip_per_chunk() -> None:
    async with running_service(blacklist_chunk=100) as svc:
        tokens_svc = svc.services.tokens
        tokens = [tokens_svc.mint("alice", f"f{i}", f"r{i}").access_token for i in range(1000)]
        result = await tokens_svc.batch_blacklist_tokens(tokens)
        assert result.blacklisted == 1000
        assert svc.services.metrics.ops_count("blacklist_chunk") == math.ceil(1000 / 100)
        assert len(await svc.services.ops.client.keys("ac:bl:*")) == 1000
        first_id = tokens_svc.codec.verify(tokens[0], Kind.ACCESS).claims["tokenId"]
        ttl = await svc.services.ops.client.ttl(f"ac:bl:{first_id}")
        assert 890 <= ttl <= 905, "TTL is the token's remaining lifetime plus leeway"


async def test_missing_batch_blacklist_bug_is_a_500() -> None:
    async with running_service(bugs="missing_batch_blacklist") as svc:
        admin = await svc.login("admin", "admin-secret")
        r = await svc.client.post("/auth/blacklist", json={"tokens": ["x"]}, headers=bearer(admin["access_token"]))
        assert r.status_code == 500 and r.json()["error"] == "internal_error"


async def test_oauth_callback(svc: Running) -> None:
    r = await svc.oauth()
    assert r.status_code == 200 and (await svc.me(r.json()["access_token"])).status_code == 200
    state = svc.services.oauth.new_state
    for params, code in (
        ({"provider": "github", "code": "user:alice", "state": state("user:alice")}, "invalid_grant"),
        ({"provider": "demo", "code": "nonsense", "state": state("nonsense")}, "invalid_grant"),
        ({"provider": "demo", "code": "user:mallory", "state": state("user:mallory")}, "invalid_credentials"),
        ({"provider": "demo"}, "bad_request"),
    ):
        r = await svc.client.get("/oauth/callback", params=params)
        assert r.json()["error"] == code, params


async def test_health_metrics_and_unknown_routes(svc: Running) -> None:
    await svc.login()
    health = (await svc.client.get("/health")).json()
    assert health["status"] == "ok" and health["redis"]["state"] == "ready"
    text = (await svc.client.get("/metrics")).text
    assert 'authchaos_http_requests_total{route="/auth/login",status="200"} 1.0' in text
    assert 'authchaos_redis_state{state="ready"} 1.0' in text
    r = await svc.client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await svc.client.get("/auth/login")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


async def test_users_file(tmp_path) -> None:
    from authchaos_reference.users import hash_password

    users = tmp_path / "users.json"
    entry = {"username": "bob", "id": "u-1", "password_hash": hash_password("pw", 1000), "roles": ["admin"]}
    users.write_text(json.dumps([entry]))
    async with running_service(users=users) as svc:
        pair = await svc.login("bob", "pw")
        assert (await svc.me(pair["access_token"])).json() == {"sub": "u-1", "username": "bob", "roles": ["admin"]}
        r = await svc.client.post("/auth/login", json={"username": "alice", "password": "wonderland"})
        assert r.status_code == 401, "demo users are off once a users file is given"
