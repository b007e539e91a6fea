"""Issue 20 regressions at the HTTP level on fakeredis: accounts, session lifetime, RFC headers, huge numbers,
logout, duplicate headers and the demo OAuth provider. Each failed on the code before the fix."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from authchaos_reference.config import ConfigError, load_settings
from authchaos_reference.jwt_codec import Kind
from tests.support import Running, running_service

ROOT = {"username": "root", "password": "root-pw", "roles": ["admin"]}
BOB = {"username": "bob", "password": "bob-pw", "roles": ["user"]}
STRONG = {"jwt_access_secret": "A" * 48, "jwt_refresh_secret": "R" * 48}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write_users(path: Path, entries: list[dict[str, Any]]) -> Path:
    """Replace the file the way an operator should: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries))
    tmp.replace(path)
    return path


async def blacklist(svc: Running, access: str, tokens: list[str]) -> httpx.Response:
    return await svc.client.post("/auth/blacklist", headers=bearer(access), json={"tokens": tokens})


async def eventually(check: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


# -- 1. deleted and demoted users ---------------------------------------------------------------------------


async def test_a_restart_with_a_demoted_admin_and_a_deleted_user_applies_at_once(tmp_path: Path) -> None:
    url = f"memory://lifecycle-{secrets.token_hex(4)}"
    path = write_users(tmp_path / "users.json", [ROOT, BOB])
    async with running_service(redis_url=url, users=path) as svc:
        root, bob = await svc.login("root", "root-pw"), await svc.login("bob", "bob-pw")
        assert (await blacklist(svc, root["access_token"], [])).status_code == 200
        assert (await svc.me(bob["access_token"])).status_code == 200
    write_users(path, [{**ROOT, "roles": ["user"]}])  # root demoted, bob deleted
    async with running_service(redis_url=url, users=path) as svc:  # the same Redis
        fresh = await svc.login("root", "root-pw")
        assert (await blacklist(svc, fresh["access_token"], [])).status_code == 403, "a fresh login of the demoted"
        assert (await blacklist(svc, root["access_token"], [])).status_code == 403, "an old token of the demoted"
        assert (await svc.me(fresh["access_token"])).json()["roles"] == ["user"]
        me = await svc.me(bob["access_token"])
        assert me.status_code == 401 and me.json()["error"] == "token_revoked"
        refreshed = await svc.refresh(bob["refresh_token"])
        assert refreshed.status_code == 401 and refreshed.json()["error"] == "token_revoked", refreshed.text


async def test_a_changed_users_file_reaches_the_running_process(tmp_path: Path, caplog: Any) -> None:
    path = write_users(tmp_path / "users.json", [ROOT, BOB])
    async with running_service(users=path, users_reload_s=0.05) as svc:
        root, bob = await svc.login("root", "root-pw"), await svc.login("bob", "bob-pw")
        write_users(path, [{**ROOT, "roles": ["user"]}, {**BOB, "disabled": True}])

        async def applied() -> bool:
            return (await blacklist(svc, root["access_token"], [])).status_code == 403

        assert await eventually(applied), "the demotion was not applied within 5 s"
        assert (await svc.me(bob["access_token"])).status_code == 401
        assert (await svc.refresh(bob["refresh_token"])).status_code == 401
        r = await svc.client.post("/auth/login", json={"username": "bob", "password": "bob-pw"})
        assert r.status_code == 401 and r.json()["error"] == "invalid_credentials", "a disabled account cannot log in"
        assert await svc.services.ops.client.get("ac:userrev:bob"), "removal ends the sessions in Redis too"

        write_users(path, [ROOT, BOB])  # bob back: his old sessions stay ended, a new login works

        async def back() -> bool:
            r = await svc.client.post("/auth/login", json={"username": "bob", "password": "bob-pw"})
            return r.status_code == 200

        assert await eventually(back)
        assert (await svc.refresh(bob["refresh_token"])).status_code == 401, "a re-added account's old session"

        path.write_text("[{not json")
        await asyncio.sleep(0.3)
        assert "users file not reloaded" in caplog.text
        assert (await svc.login("bob", "bob-pw"))["access_token"], "a broken file leaves the directory in force"


def test_a_users_file_naming_one_id_twice_is_refused(tmp_path: Path) -> None:
    from authchaos_reference.users import read_users

    path = write_users(tmp_path / "users.json", [ROOT, {**BOB, "id": "root"}])
    with pytest.raises(ConfigError, match="'root' appears twice"):
        read_users(path)


# -- 2. absolute session lifetime ---------------------------------------------------------------------------


async def test_rotation_does_not_extend_a_session_past_its_absolute_lifetime() -> None:
    async with running_service(refresh_ttl_s=3, session_max_s=2) as svc:
        pair = await svc.login()
        claims = svc.services.tokens.codec.verify(pair["refresh_token"], Kind.REFRESH).claims
        assert claims["exp"] <= claims["auth_time"] + 2
        token = pair["refresh_token"]
        for _ in range(2):  # a refresh every ~0.8 s, well inside the idle timeout
            await asyncio.sleep(0.8)
            r = await svc.refresh(token)
            if r.status_code != 200:
                break
            token = r.json()["refresh_token"]
            assert svc.services.tokens.codec.verify(token, Kind.REFRESH).claims["auth_time"] == claims["auth_time"]
        await asyncio.sleep(max(0.0, claims["auth_time"] + 2.05 - time.time()))
        r = await svc.refresh(token)
        assert r.status_code == 401 and r.json()["error"] == "token_expired", r.text


async def test_the_absolute_lifetime_is_checked_even_when_exp_is_far() -> None:
    async with running_service(session_max_s=3600) as svc:
        started = int(time.time()) - 7200  # a session that began two hours ago (its tokens were minted long)
        pair = svc.services.tokens.mint("alice", "fam-old", "rt-old", auth_time=started)
        await svc.services.tokens.store.register_family("fam-old", "alice", "rt-old", issued_ms=started * 1000)
        r = await svc.refresh(pair.refresh_token)
        assert r.status_code == 401 and r.json()["error"] == "token_expired", r.text
        assert "absolute lifetime" in r.json()["message"]


async def test_the_legacy_upgrade_carries_the_session_start() -> None:
    async with running_service(session_max_s=100) as svc:
        codec, s = svc.services.tokens.codec, svc.services.settings
        iat = int(time.time()) - 40
        legacy = codec.sign_raw(
            Kind.REFRESH, {"sub": "alice", "iat": iat, "exp": iat + 3600, "iss": s.issuer, "aud": s.audience}
        )
        r = await svc.refresh(legacy)
        assert r.status_code == 200, r.text
        claims = codec.verify(r.json()["refresh_token"], Kind.REFRESH).claims
        assert claims["auth_time"] == iat and claims["exp"] <= iat + 100


def test_production_refuses_an_unbounded_session(tmp_path: Path) -> None:
    users = write_users(tmp_path / "users.json", [])
    with pytest.raises(ConfigError, match="AUTHCHAOS_SESSION_MAX_S is 0"):
        load_settings(env="production", session_max_s=0, users=users, redis_url="redis://127.0.0.1:1", **STRONG)


# -- 4. RFC 6749 5.1 and RFC 6750 3 ----------------------------------------------------------------------------


async def test_token_answers_are_not_stored_and_401s_carry_a_bearer_challenge(svc: Running) -> None:
    login = await svc.client.post("/auth/login", json={"username": "alice", "password": "wonderland"})
    refresh = await svc.refresh(login.json()["refresh_token"])
    oauth = await svc.oauth()
    for r in (login, refresh, oauth):
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.request.url
    missing = await svc.client.get("/auth/me")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="authchaos"'
    for r in (
        await svc.me("x.y.z"),
        await svc.refresh(login.json()["refresh_token"]),  # reused
        await svc.client.post("/auth/logout", headers=bearer("x.y.z"), json={}),
    ):
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith('Bearer realm="authchaos", error="invalid_token"'), r.text
    user = oauth.json()["access_token"]  # (the refreshed session ended with the reuse above)
    forbidden = await blacklist(svc, user, [])
    assert forbidden.status_code == 403 and 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]


# -- 6. huge numbers in tokens signed with the service's key ---------------------------------------------------


def _signed(svc: Running, kind: Kind, *, typed: bool = False, **claims: Any) -> str:
    """A token the service's key signed over exactly these claims (typed: with the ``type`` a current one has)."""
    s = svc.services.settings
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "iat": now, "exp": now + 60, "iss": s.issuer, "aud": s.audience}
    if typed:
        base |= {"type": kind.value, "tokenId": secrets.token_hex(4), "family": secrets.token_hex(4)}
    return svc.services.tokens.codec.sign_raw(kind, {**base, **claims})


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**400},
        {"exp": int(time.time()) + 10**16},
        {"iat": -(10**400)},
        {"nbf": 10**400},
        {"auth_time": 10**400},
        {"exp": 1e308},
        {"tokenId": 10**400, "family": "f", "type": "refresh"},
    ],
    ids=["exp-10e400", "exp-now+10e16", "iat-negative-huge", "nbf-10e400", "auth_time-10e400", "exp-float", "id-int"],
)
@pytest.mark.parametrize("typed", [True, False], ids=["typed", "legacy-shape"])
async def test_huge_numbers_are_invalid_tokens_never_a_500(svc: Running, claims: dict[str, Any], typed: bool) -> None:
    admin = await svc.login("admin", "admin-secret")
    access = _signed(svc, Kind.ACCESS, typed=typed, **claims)
    refresh = _signed(svc, Kind.REFRESH, typed=typed, **claims)
    logout = await svc.client.post("/auth/logout", headers=bearer(access), json={"refresh_token": refresh})
    assert logout.status_code == 401, logout.text
    assert (await svc.me(access)).status_code == 401
    assert (await svc.refresh(refresh)).status_code == 401
    good = await svc.login()
    r = await blacklist(svc, admin["access_token"], [good["access_token"], access, refresh, good["refresh_token"]])
    assert r.status_code == 200 and r.json() == {"blacklisted": 2, "expired": 0, "invalid": 2}, r.text
    assert (await svc.me(good["access_token"])).status_code == 401, "the rest of the batch was revoked"


# -- 7. logout revokes what it can -----------------------------------------------------------------------------


async def test_logout_with_a_bad_refresh_token_still_ends_the_session(svc: Running) -> None:
    s = svc.services.settings
    for bad, why in (
        ("x.y.z", "not revoked"),
        ("", "not revoked"),
        (_signed(svc, Kind.REFRESH, iat=int(time.time()) - 900, exp=int(time.time()) - 600), "expired"),
        (None, None),
    ):
        pair = await svc.login()
        wrong_kind = pair["access_token"]
        body: dict[str, Any] = {} if bad is None else {"refresh_token": bad}
        r = await svc.client.post("/auth/logout", headers=bearer(pair["access_token"]), json=body)
        assert r.status_code == 200, (bad, r.text)
        if why is not None:
            assert r.json()["not_revoked"]["refresh_token"].startswith(why), r.text
        assert (await svc.me(pair["access_token"])).status_code == 401
        assert (await svc.refresh(pair["refresh_token"])).status_code == 401, "the session's own refresh token"
    pair = await svc.login()
    r = await svc.client.post("/auth/logout", headers=bearer(pair["access_token"]), json={"refresh_token": wrong_kind})
    assert r.status_code == 200 and "not revoked" in r.json()["not_revoked"]["refresh_token"]
    assert s.leeway_s >= 0


# -- 8. two Authorization headers ------------------------------------------------------------------------------


async def test_two_authorization_headers_are_refused_on_every_route(svc: Running) -> None:
    alice, admin = await svc.login(), await svc.login("admin", "admin-secret")
    both = [("Authorization", f"Bearer {alice['access_token']}"), ("Authorization", f"Bearer {admin['access_token']}")]
    for method, path, body in (
        ("GET", "/auth/me", None),
        ("POST", "/auth/blacklist", {"tokens": []}),
        ("POST", "/auth/logout", {}),
    ):
        r = await svc.client.request(method, path, headers=both, json=body)
        assert r.status_code == 400 and r.json()["error"] == "bad_request", (path, r.text)
    assert (await svc.me(alice["access_token"])).status_code == 200, "nothing was revoked"


# -- 9. the demo OAuth provider --------------------------------------------------------------------------------


async def test_demo_oauth_is_off_beside_a_users_file_and_needs_a_fresh_state(tmp_path: Path) -> None:
    path = write_users(tmp_path / "users.json", [ROOT])
    async with running_service(users=path) as svc:
        r = await svc.oauth("root")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and "disabled" in r.json()["message"]
    async with running_service() as svc:  # demo users: the demo provider is on outside production
        assert (await svc.oauth()).status_code == 200
        r = await svc.client.get("/oauth/callback", params={"provider": "demo", "code": "user:admin"})
        assert r.status_code == 400 and "state" in r.json()["message"], "no state, no tokens"
        start = await svc.client.get("/oauth/authorize", params={"provider": "demo", "login_hint": "admin"})
        assert start.status_code == 302 and start.headers["cache-control"] == "no-store"
        callback = start.headers["location"]
        assert (await svc.client.get(callback)).status_code == 200
        again = await svc.client.get(callback)
        assert again.status_code == 400 and "already used" in again.json()["message"], "a code is exchanged once"
        forged = callback.replace("user%3Aadmin", "user%3Aalice").rsplit("state=", 1)[0] + "state=a.9999999999.00"
        assert (await svc.client.get(forged)).status_code == 400
        expired = svc.services.oauth.new_state("user:alice", now=time.time() - 3600)
        r = await svc.client.get("/oauth/callback", params={"provider": "demo", "code": "user:alice", "state": expired})
        assert r.status_code == 400 and "Expired" in r.json()["message"]


async def test_a_state_is_single_use_while_redis_is_away_even_when_spent_at_once(svc: Running) -> None:
    start = await svc.client.get("/oauth/authorize", params={"provider": "demo", "login_hint": "alice"})
    svc.redis_down()
    answers = await asyncio.gather(*(svc.client.get(start.headers["location"]) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [200, 400, 400, 400, 400], "one login per state, outage or not"
    assert (await svc.client.get(start.headers["location"])).status_code == 400


async def test_a_state_is_bound_to_its_code_and_malformed_ones_are_400(svc: Running) -> None:
    start = await svc.client.get("/oauth/authorize", params={"provider": "demo", "login_hint": "alice"})
    state = start.headers["location"].rsplit("state=", 1)[1]
    r = await svc.client.get("/oauth/callback", params={"provider": "demo", "code": "user:admin", "state": state})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", "alice's state cannot log in the admin"
    nonce = "n" * 22
    for bad in (
        f"{nonce}.123.\u00e9" + "0" * 31,
        f"{nonce}.\u00b2.{'0' * 32}",
        f"{nonce}.\u0661\u0662.{'0' * 32}",
        "a.b",
        "..",
        "x" * 5000,
    ):
        r = await svc.client.get("/oauth/callback", params={"provider": "demo", "code": "user:alice", "state": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (bad[:40], r.text)


async def test_openapi_is_not_served_in_production(tmp_path: Path) -> None:
    from authchaos_reference.app import create_app
    from authchaos_reference.config import Settings

    users = write_users(tmp_path / "users.json", [])
    app = create_app(Settings(env="production", users=users, redis_url="memory://prod-openapi", **STRONG))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/openapi.json")).status_code == 404


async def test_an_account_disabled_across_a_restart_does_not_get_its_sessions_back(tmp_path: Path) -> None:
    """Disable through a redeploy (no running process saw the change), re-enable later: old sessions stay dead."""
    url = f"memory://lifecycle-{secrets.token_hex(4)}"
    path = write_users(tmp_path / "users.json", [ROOT, BOB])
    async with running_service(redis_url=url, users=path, users_reload_s=0.05) as svc:
        bob = await svc.login("bob", "bob-pw")

        async def recorded() -> bool:
            return bool(await svc.services.ops.client.sismember("ac:directory", "bob"))

        assert await eventually(recorded), "the enabled accounts are recorded in Redis"
    write_users(path, [ROOT, {**BOB, "disabled": True}])
    async with running_service(redis_url=url, users=path, users_reload_s=0.05) as svc:

        async def ended() -> bool:
            return bool(await svc.services.ops.client.get("ac:userrev:bob"))

        assert await eventually(ended), "a removal seen at startup ends the account's sessions in Redis"
    write_users(path, [ROOT, BOB])
    async with running_service(redis_url=url, users=path, users_reload_s=0.05) as svc:
        assert (await svc.refresh(bob["refresh_token"])).status_code == 401
        assert (await svc.me(bob["access_token"])).status_code == 401
        assert (await svc.login("bob", "bob-pw"))["access_token"], "a new login works"
