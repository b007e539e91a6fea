"""Regression tests for the black-box security review (issue 11), at the HTTP level on fakeredis."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from authchaos_reference import users as users_module
from authchaos_reference.app import create_app
from authchaos_reference.config import Settings
from authchaos_reference.jwt_codec import Kind
from authchaos_reference.services import build_services
from authchaos_reference.users import hash_password
from tests.support import Running, running_service

STRONG = {"jwt_access_secret": "A" * 48, "jwt_refresh_secret": "R" * 48}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def legacy_refresh(svc: Running, sub: str = "alice", lifetime_s: int = 3600) -> str:
    s = svc.services.settings
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + lifetime_s, "iss": s.issuer, "aud": s.audience}
    return svc.services.tokens.codec.sign_raw(Kind.REFRESH, payload)


def legacy_access(svc: Running, sub: str = "alice", iat_ago_s: int = 0, lifetime_s: int = 600) -> str:
    s = svc.services.settings
    iat = int(time.time()) - iat_ago_s
    payload = {"sub": sub, "iat": iat, "exp": iat + lifetime_s, "iss": s.issuer, "aud": s.audience}
    return svc.services.tokens.codec.sign_raw(Kind.ACCESS, payload)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, f"traceback logged: {record.getMessage()}"
        assert "Traceback" not in record.getMessage()
        assert "RecursionError" not in record.getMessage()


# -- 1. deeply nested JSON ---------------------------------------------------------------------------------------


def nested_token(svc: Running) -> str:
    good = svc.services.tokens.codec.encode(Kind.ACCESS, {"sub": "alice", "tokenId": "n", "family": "n"}, ttl_s=60)
    _, payload, sig = good.split(".")
    return f"{b64(b'[' * 5000)}.{payload}.{sig}"


async def test_deeply_nested_header_is_a_clean_401_everywhere(svc: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = nested_token(svc)
    r = await svc.refresh(bad)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    r = await svc.me(bad)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    admin = await svc.login("admin", "admin-secret")
    r = await svc.client.post("/auth/blacklist", json={"tokens": [bad]}, headers=bearer(admin["access_token"]))
    assert r.status_code == 200 and r.json() == {"blacklisted": 0, "expired": 0, "invalid": 1}
    no_tracebacks(caplog)


async def test_one_nested_token_does_not_fail_a_chunked_batch(caplog: pytest.LogCaptureFixture) -> None:
    async with running_service(blacklist_chunk=10) as svc:
        admin = await svc.login("admin", "admin-secret")
        minted = [svc.services.tokens.mint("alice", f"f{i}", f"r{i}").access_token for i in range(25)]
        tokens = [*minted[:15], nested_token(svc), *minted[15:]]
        r = await svc.client.post("/auth/blacklist", json={"tokens": tokens}, headers=bearer(admin["access_token"]))
        assert r.status_code == 200 and r.json() == {"blacklisted": 25, "expired": 0, "invalid": 1}
        assert (await svc.me(minted[-1])).status_code == 401
    no_tracebacks(caplog)


# -- 2. canonical token identity -------------------------------------------------------------------------------


def encodings(token: str) -> list[str]:
    """The same token written differently: padding, and slack bits in the signature's last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    twins = [token[:-1] + alphabet[(last & ~3) | low] for low in range(4)]
    return [token + "=", token + "==", *(t for t in twins if t != token)]


async def test_a_blacklisted_legacy_access_token_stays_revoked_in_any_encoding(svc: Running) -> None:
    token = legacy_access(svc)
    admin = await svc.login("admin", "admin-secret")
    r = await svc.client.post("/auth/blacklist", json={"tokens": [token]}, headers=bearer(admin["access_token"]))
    assert r.json()["blacklisted"] == 1
    for variant in encodings(token):
        r = await svc.me(variant)
        assert r.status_code == 401, variant[-4:]


async def test_a_legacy_refresh_token_cannot_be_exchanged_twice_by_re_encoding_it(svc: Running) -> None:
    token = legacy_refresh(svc)
    assert (await svc.refresh(token)).status_code == 200
    for variant in encodings(token):
        r = await svc.refresh(variant)
        assert r.status_code == 401, variant[-4:]


# -- 3. legacy replay revokes the family -----------------------------------------------------------------------


async def test_replaying_a_legacy_refresh_token_revokes_the_session_it_became(svc: Running) -> None:
    token = legacy_refresh(svc)
    first = (await svc.refresh(token)).json()
    replay = await svc.refresh(token)
    assert replay.status_code == 401 and replay.json()["error"] == "token_reused"
    assert (await svc.refresh(first["refresh_token"])).status_code == 401
    assert (await svc.me(first["access_token"])).status_code == 401


async def test_blacklisting_an_upgraded_legacy_token_reaches_its_family(svc: Running) -> None:
    token = legacy_refresh(svc)
    first = (await svc.refresh(token)).json()
    admin = await svc.login("admin", "admin-secret")
    r = await svc.client.post("/auth/blacklist", json={"tokens": [token]}, headers=bearer(admin["access_token"]))
    assert r.json()["blacklisted"] == 1
    assert (await svc.refresh(first["refresh_token"])).status_code == 401
    assert (await svc.me(first["access_token"])).status_code == 401


# -- 4. logout with a legacy refresh token ---------------------------------------------------------------------


async def test_logout_with_a_legacy_refresh_token_revokes_it(svc: Running) -> None:
    session = await svc.login()
    token = legacy_refresh(svc)
    r = await svc.client.post("/auth/logout", json={"refresh_token": token}, headers=bearer(session["access_token"]))
    assert r.status_code == 200
    r = await svc.refresh(token)
    assert r.status_code == 401 and r.json()["error"] == "token_revoked"


async def test_logout_with_an_upgraded_legacy_refresh_token_revokes_its_family(svc: Running) -> None:
    token = legacy_refresh(svc)
    upgraded = (await svc.refresh(token)).json()
    session = await svc.login()
    r = await svc.client.post("/auth/logout", json={"refresh_token": token}, headers=bearer(session["access_token"]))
    assert r.status_code == 200
    assert (await svc.refresh(upgraded["refresh_token"])).status_code == 401


# -- 5. demo OAuth provider in production ----------------------------------------------------------------------


def users_file(tmp_path: Path, iterations: int = 1000) -> Path:
    path = tmp_path / "users.json"
    entries = [
        {"username": "root", "password_hash": hash_password("root-pw", iterations), "roles": ["admin"]},
        {"username": "bob", "password_hash": hash_password("bob-pw", iterations), "roles": ["user"]},
    ]
    path.write_text(json.dumps(entries))
    return path


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app built from exact settings (no production guard: fakeredis is not a production Redis)."""
    services = build_services(settings)
    app = create_app(settings, services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://authchaos.test") as client:
            yield client


async def test_demo_oauth_provider_is_off_in_production(tmp_path: Path) -> None:
    settings = Settings(env="production", users=users_file(tmp_path), redis_url="memory://prod-oauth", **STRONG)
    async with served(settings) as client:
        r = await client.get("/oauth/authorize", params={"provider": "demo", "login_hint": "root"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        r = await client.get("/oauth/callback", params={"provider": "demo", "code": "user:root"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        assert "access_token" not in r.text


# -- 6. login timing and the event loop ------------------------------------------------------------------------


async def test_unknown_users_cost_the_same_hashing_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    real = hashlib.pbkdf2_hmac

    def spy(name: str, password: bytes, salt: bytes, iterations: int, dklen: int | None = None) -> bytes:
        calls.append((iterations, threading.get_ident()))
        return real(name, password, salt, iterations, dklen)

    monkeypatch.setattr(users_module.hashlib, "pbkdf2_hmac", spy)
    async with running_service(users=users_file(tmp_path, iterations=1234)) as svc:
        loop_thread = threading.get_ident()
        del calls[:]  # hashing the users file and the decoy happened at start
        known = await svc.client.post("/auth/login", json={"username": "bob", "password": "wrong"})
        unknown = await svc.client.post("/auth/login", json={"username": "nobody", "password": "wrong"})
        assert known.status_code == unknown.status_code == 401
    login_calls = [c for c in calls if c[0] == 1234]
    assert len(login_calls) == 2, f"one PBKDF2 of the same cost per login, known or not: {calls}"
    assert all(thread != loop_thread for _, thread in login_calls), "PBKDF2 must not run on the event loop"


# -- 7. secrets in the Redis URL, and what /health tells strangers ---------------------------------------------


async def test_redis_password_in_the_query_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = "redis://127.0.0.1:1/0?password=s3cret-query-pw"
    async with running_service(redis_url=url, redis_connect_timeout_s=0.05, redis_retries=0) as svc:
        await svc.me("x.y.z")
        await svc.client.post("/auth/login", json={"username": "alice", "password": "wonderland"})
        health = await svc.client.get("/health")
    assert "s3cret" not in health.text
    assert "last_error" not in health.json()["redis"] and "bugs" not in health.json()
    assert not [r for r in caplog.records if "s3cret" in r.getMessage()]


async def test_health_does_not_show_bug_switches_or_errors() -> None:
    async with running_service(bugs="strict_type") as svc:
        svc.redis_down()
        await svc.refresh("a.b.c")
        await svc.me((await svc.oauth()).json()["access_token"])
        body = (await svc.client.get("/health")).json()
    assert "bugs" not in body and "strict_type" not in json.dumps(body)
    assert body["redis"].get("last_error") is None


# -- 8. defaults: no request waits seconds ---------------------------------------------------------------------


def test_default_redis_timeouts_keep_every_wait_under_half_a_second() -> None:
    s = Settings()
    assert s.worst_request_wait_s() <= 0.5
    assert s.time_to_fast_answer_s() < 1.0


# -- also found: degraded window, command errors, typeless lifetime, logout-all, TTLs, retries, body size -------


async def test_a_succeeding_ping_does_not_restart_the_degraded_window(svc: Running) -> None:
    pair = await svc.login()
    ops = svc.services.ops

    async def partial_failure(token_id: str, family: str | None, sub: str) -> Any:
        async def boom(_: object) -> Any:
            raise RedisTimeoutError("Timeout reading from socket (EXISTS stalls, PING answers)")

        return await ops.safe_redis_operation("auth_lookup", boom)

    svc.services.tokens.store.auth_lookup = partial_failure  # type: ignore[method-assign]
    svc.services.settings.degraded_max_s = 0.2
    first = await svc.me(pair["access_token"])
    assert first.status_code == 200 and first.headers.get("X-Auth-Degraded")
    for _ in range(10):  # the background probe PINGs and succeeds each time
        await ops.probe()
    await asyncio.sleep(0.3)
    r = await svc.me(pair["access_token"])
    assert r.status_code == 503, "past the degraded window: a PING in between must not restart it"


async def test_a_redis_command_error_is_not_an_outage(svc: Running) -> None:
    pair = await svc.login()
    await svc.services.ops.client.hset("ac:userrev:alice", "not", "a string")  # WRONGTYPE for GET
    r = await svc.me(pair["access_token"])
    assert r.status_code == 503 and "X-Auth-Degraded" not in r.headers
    assert svc.services.ops.breaker.failures == 0, "Redis answered: the breaker must not count it"


async def test_typeless_access_tokens_live_no_longer_than_an_access_token(svc: Running) -> None:
    ttl = svc.services.settings.access_ttl_s
    ancient = legacy_access(svc, iat_ago_s=ttl + 60, lifetime_s=10 * 365 * 86400)
    r = await svc.me(ancient)
    assert r.status_code == 401 and r.json()["error"] == "token_expired"
    assert (await svc.me(legacy_access(svc))).status_code == 200, "a young legacy access token still works"


async def test_logout_all_reaches_fallback_families_not_yet_registered() -> None:
    async with running_service(probe_interval_s=3600) as svc:
        session = await svc.login()
        user = svc.services.auth.users.by_username("alice")
        assert user is not None
        here = svc.services.auth.issue_fallback(user)  # queued in this process
        elsewhere = svc.services.auth.issue_fallback(user)  # as if another worker issued it
        svc.services.auth.pending.discard(
            svc.services.tokens.codec.verify(elsewhere.refresh_token, Kind.REFRESH).claims["family"]
        )
        await asyncio.sleep(1.01)  # logout-all happens strictly after those tokens were issued (iat has 1 s resolution)
        r = await svc.client.post("/auth/logout", json={"all": True}, headers=bearer(session["access_token"]))
        assert r.status_code == 200
        for pair in (here, elsewhere):
            assert (await svc.refresh(pair.refresh_token)).status_code == 401
            assert (await svc.me(pair.access_token)).status_code == 401
        await svc.services.auth.register_pending()
        assert (await svc.refresh(here.refresh_token)).status_code == 401, "registering later must not revive it"
        assert (await svc.refresh((await svc.login())["refresh_token"])).status_code == 200, "new logins work"


async def test_blacklist_entries_never_expire_before_their_token(svc: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = await svc.login("admin", "admin-secret")
    issued = int(time.time())
    token = svc.services.tokens.codec.encode(
        Kind.ACCESS, {"sub": "alice", "tokenId": "ttl-1", "family": "ttl-f"}, ttl_s=900, now=issued
    )

    real_monotonic = time.monotonic

    class Clock:
        @staticmethod
        def time() -> float:
            return issued + 0.9  # most of a second has passed since iat: int() would drop it

        monotonic = staticmethod(real_monotonic)

    monkeypatch.setattr("authchaos_reference.jwt_service.time", Clock)
    r = await svc.client.post("/auth/blacklist", json={"tokens": [token]}, headers=bearer(admin["access_token"]))
    assert r.json()["blacklisted"] == 1
    pttl_ms = await svc.services.ops.client.pttl("ac:bl:ttl-1")
    needed_ms = (900 + svc.services.settings.leeway_s - 0.9) * 1000
    assert pttl_ms >= needed_ms - 50, f"entry lives {pttl_ms} ms, its token {needed_ms:.0f} ms more"
    assert math.isfinite(pttl_ms)


async def test_a_legacy_upgrade_whose_reply_was_lost_can_be_retried(svc: Running) -> None:
    store = svc.services.tokens.store
    real_script = store._upgrade_legacy
    lost = {"n": 0}

    async def reply_lost(*args: Any, **kwargs: Any) -> Any:
        result = await real_script(*args, **kwargs)  # the script ran in Redis ...
        if lost["n"] == 0:
            lost["n"] += 1
            raise RedisTimeoutError("Timeout reading from socket")  # ... but its answer never arrived
        return result

    store._upgrade_legacy = reply_lost  # type: ignore[assignment]
    token = legacy_refresh(svc)
    first = await svc.refresh(token)
    assert first.status_code == 503
    retry = await svc.refresh(token)
    assert retry.status_code == 200, retry.text
    assert (await svc.refresh(retry.json()["refresh_token"])).status_code == 200


async def test_an_oversize_unauthenticated_body_is_refused_before_parsing(svc: Running) -> None:
    big = b'{"tokens": ["' + b"x" * (20 * 1024 * 1024) + b'"]}'
    r = await svc.client.post("/auth/blacklist", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = await svc.client.post(
        "/auth/login", content=b'{"username": "' + b"a" * 300_000 + b'"}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


# -- the production guard ----------------------------------------------------------------------------------------


def production_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    env = {
        "AUTHCHAOS_ENV": "production",
        "AUTHCHAOS_REDIS_URL": "redis://127.0.0.1:6379/0",
        "AUTHCHAOS_JWT_ACCESS_SECRET": "A" * 48,
        "AUTHCHAOS_JWT_REFRESH_SECRET": "R" * 48,
        "AUTHCHAOS_USERS": str(users_file(tmp_path)),
    }
    for key, value in (env | extra).items():
        monkeypatch.setenv(key, value)


def test_a_sound_production_configuration_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from authchaos_reference.config import load_settings

    production_env(tmp_path, monkeypatch)
    assert load_settings().env == "production"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"AUTHCHAOS_JWT_ACCESS_RETIRED_SECRETS": "short"}, "AUTHCHAOS_JWT_ACCESS_RETIRED_SECRETS"),
        (
            {"AUTHCHAOS_JWT_REFRESH_RETIRED_SECRETS": "authchaos-dev-refresh-secret-do-not-use-in-production"},
            "AUTHCHAOS_JWT_REFRESH_RETIRED_SECRETS",
        ),
        ({"AUTHCHAOS_JWT_ACCESS_RETIRED_SECRETS": "R" * 48}, "both token kinds"),
        ({"AUTHCHAOS_DEGRADED_MAX_S": "86400"}, "AUTHCHAOS_DEGRADED_MAX_S"),
        ({"AUTHCHAOS_OAUTH_DEMO": "true"}, "AUTHCHAOS_OAUTH_DEMO"),
    ],
)
def test_the_production_guard_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], fragment: str
) -> None:
    from authchaos_reference.config import ConfigError, load_settings

    production_env(tmp_path, monkeypatch, **extra)
    with pytest.raises(ConfigError, match=fragment):
        load_settings()


def test_the_production_guard_refuses_plaintext_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from authchaos_reference.config import ConfigError, load_settings

    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps([{"username": "root", "password": "hunter2", "roles": ["admin"]}]))
    production_env(tmp_path, monkeypatch, AUTHCHAOS_USERS=str(plain))
    with pytest.raises(ConfigError, match="plaintext"):
        load_settings()
