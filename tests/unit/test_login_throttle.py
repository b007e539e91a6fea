"""Brute-force limits on POST /auth/login (ASVS 5.0 6.3.1), at the HTTP level on fakeredis.

Every client here has its own address (httpx's ASGITransport ``client=``), as real clients would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest
from redis.exceptions import ResponseError

from authchaos_reference.app import create_app
from authchaos_reference.config import Settings
from authchaos_reference.redis_client import memory_server
from authchaos_reference.services import Services, build_services
from authchaos_reference.users import hash_password
from tests.support import make_settings

RIGHT = {"username": "alice", "password": "wonderland"}
WRONG = {"username": "alice", "password": "not-wonderland"}


@dataclass
class Service:
    """One in-process service; ``post(body, address)`` logs in from that client address."""

    app: Any
    services: Services
    fake: fakeredis.FakeServer | None  # None on a real Redis
    stack: AsyncExitStack
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def client(self, address: str) -> httpx.AsyncClient:
        if address not in self.clients:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False, client=(address, 40000))
            client = httpx.AsyncClient(transport=transport, base_url="http://authchaos.test")
            self.clients[address] = await self.stack.enter_async_context(client)
        return self.clients[address]

    async def post(self, body: dict[str, str], address: str = "10.0.0.1", **headers: str) -> httpx.Response:
        return await (await self.client(address)).post("/auth/login", json=body, headers=headers)

    async def statuses(self, body: dict[str, str], address: str, times: int) -> list[int]:
        return [(await self.post(body, address)).status_code for _ in range(times)]


@asynccontextmanager
async def service(**overrides: Any) -> AsyncIterator[Service]:
    settings = make_settings(**overrides)
    services = build_services(settings)
    app = create_app(settings, services)
    url = settings.redis_url
    fake = memory_server(url.removeprefix("memory://")) if url.startswith("memory://") else None
    async with AsyncExitStack() as stack, app.router.lifespan_context(app):
        yield Service(app, services, fake, stack)


def throttled(r: httpx.Response, *, window_s: int = 900) -> int:
    """Assert a 429 ``login_throttled`` with a sane Retry-After; returns Retry-After."""
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "login_throttled", r.text
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= window_s
    assert f"retry in {retry_after} s" in r.json()["message"]
    return retry_after


async def spread_failures(svc: Service, count: int, per_address: int = 5, prefix: str = "10.1.0.") -> list[int]:
    """``count`` wrong passwords for alice, ``per_address`` from each fresh address (within the client limit)."""
    statuses = []
    for i in range(count):
        statuses.append((await svc.post(WRONG, f"{prefix}{i // per_address}")).status_code)
    return statuses


# -- the client limit: one account from one address ------------------------------------------------------------


async def test_after_five_wrong_passwords_the_address_is_refused_even_the_right_one() -> None:
    async with service() as svc:
        hashed = 0
        authenticate = svc.services.auth.users.authenticate

        async def counting(username: str, password: str) -> Any:
            nonlocal hashed
            hashed += 1
            return await authenticate(username, password)

        svc.services.auth.users.authenticate = counting  # type: ignore[method-assign]
        answers = [await svc.post(WRONG) for _ in range(110)]
        assert [a.status_code for a in answers[:5]] == [401] * 5
        for answer in answers[5:]:
            throttled(answer)
        assert hashed == 5, "a throttled attempt must cost no password hash"
        throttled(await svc.post(RIGHT))
        assert hashed == 5
        assert (await svc.post(RIGHT, "10.0.0.2")).status_code == 200, "another address is not throttled"
        metrics = (await (await svc.client("10.0.0.1")).get("/metrics")).text
        assert 'authchaos_login_throttled_total{limit="client"} 106.0' in metrics


async def test_concurrent_guesses_cannot_race_past_the_limit(tmp_path: Path) -> None:
    """All of them pass the check before the first hash finishes; only five may be told "wrong"."""
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"username": "bob", "password_hash": hash_password("bob-pw", 20_000)}]))
    async with service(users=users) as svc:
        answers = await asyncio.gather(*(svc.post({"username": "bob", "password": f"guess-{i}"}) for i in range(30)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * 5 + [429] * 25, statuses


async def test_a_success_clears_the_client_counter() -> None:
    async with service() as svc:
        assert await svc.statuses(WRONG, "10.0.0.1", 4) == [401] * 4
        assert (await svc.post(RIGHT)).status_code == 200
        assert await svc.statuses(WRONG, "10.0.0.1", 5) == [401] * 5, "the four before the success were forgotten"
        throttled(await svc.post(WRONG))


async def test_the_window_ending_restores_login() -> None:
    async with service(login_client_window_s=1) as svc:
        assert await svc.statuses(WRONG, "10.0.0.1", 5) == [401] * 5
        assert throttled(await svc.post(RIGHT), window_s=1) == 1
        await asyncio.sleep(1.05)  # the window is one second; a bounded retry covers a slow clock tick
        statuses = [(await svc.post(RIGHT)).status_code]
        for _ in range(10):
            if statuses[-1] != 429:
                break
            await asyncio.sleep(0.1)
            statuses.append((await svc.post(RIGHT)).status_code)
        assert statuses[-1] == 200, statuses


async def test_ipv4_mapped_and_same_64_ipv6_addresses_are_one_client() -> None:
    async with service() as svc:
        assert await svc.statuses(WRONG, "::ffff:10.0.0.9", 5) == [401] * 5
        throttled(await svc.post(WRONG, "10.0.0.9"))
        assert await svc.statuses(WRONG, "2001:db8:1:2::1", 5) == [401] * 5
        throttled(await svc.post(WRONG, "2001:db8:1:2:ffff::7"))
        assert (await svc.post(WRONG, "2001:db8:1:3::1")).status_code == 401


async def test_behind_a_proxy_the_last_forwarded_entry_is_the_client() -> None:
    async with service(login_client_header="x-forwarded-for") as svc:
        for i in range(5):  # the client may write any first entries: only the proxy's last one counts
            r = await svc.post(WRONG, "10.0.0.250", **{"X-Forwarded-For": f"6.6.6.{i}, 203.0.113.5"})
            assert r.status_code == 401
        throttled(await svc.post(WRONG, "10.0.0.250", **{"X-Forwarded-For": "203.0.113.5"}))
        assert (
            await svc.post(WRONG, "10.0.0.250", **{"X-Forwarded-For": "203.0.113.5, 198.51.100.7"})
        ).status_code == 401


# -- the account limit, and the addresses its user really uses ---------------------------------------------------


async def test_a_known_address_logs_in_after_the_account_limit_a_fresh_one_does_not() -> None:
    async with service() as svc:
        assert (await svc.post(RIGHT, "192.0.2.10")).status_code == 200  # the user's own address, now known
        statuses = await spread_failures(svc, 110)
        assert statuses.count(401) == 100 and statuses[100:] == [429] * 10, statuses
        throttled(await svc.post(RIGHT, "198.51.100.99"), window_s=3600)  # a fresh address: the account is locked
        r = await svc.post(RIGHT, "192.0.2.10")
        assert r.status_code == 200, "an attacker must not lock the user out of the addresses the user uses"


async def test_unknown_usernames_are_throttled_exactly_like_known_ones() -> None:
    async def story(username: str) -> list[tuple[int, str]]:
        async with service() as svc:
            body = {"username": username, "password": "nope"}
            answers = [await svc.post(body, "10.0.0.1") for _ in range(7)]
            for i in range(100):  # the account limit, from fresh addresses
                await svc.post(body, f"10.2.0.{i // 5}")
            answers.append(await svc.post(body, "10.3.0.1"))
            return [(a.status_code, a.json()["error"]) for a in answers]

    known, unknown = await story("alice"), await story("nobody-at-all")
    assert known == unknown
    assert known == [(401, "invalid_credentials")] * 5 + [(429, "login_throttled")] * 3


# -- the address limit: password spraying -------------------------------------------------------------------------


async def test_spraying_many_accounts_from_one_address_hits_the_address_limit() -> None:
    async with service() as svc:
        assert (await svc.post({"username": "admin", "password": "admin-secret"}, "10.0.0.7")).status_code == 200
        spray = [{"username": f"user-{i}", "password": "Winter2024!"} for i in range(110)]
        statuses = [(await svc.post(body, "10.0.0.7")).status_code for body in spray]
        assert statuses == [401] * 100 + [429] * 10, statuses
        throttled(await svc.post(RIGHT, "10.0.0.7"))  # alice never logged in from there
        assert (await svc.post(RIGHT, "10.0.0.8")).status_code == 200
        r = await svc.post({"username": "admin", "password": "admin-secret"}, "10.0.0.7")
        assert r.status_code == 200, "an address known to the account is not locked out by a neighbour's spraying"


# -- Redis away: the same limits in this process, never a 5xx -----------------------------------------------------


async def test_redis_down_login_stays_available_and_limited_in_process() -> None:
    async with service() as svc:
        assert svc.fake is not None
        svc.fake.connected = False
        answers = [await svc.post(RIGHT)]
        answers += [await svc.post(WRONG, "10.0.0.5") for _ in range(7)]
        answers.append(await svc.post(RIGHT, "10.0.0.5"))
        assert all(a.status_code < 500 for a in answers), [a.text for a in answers]
        assert answers[0].status_code == 200 and answers[0].json()["access_token"]
        assert [a.status_code for a in answers[1:6]] == [401] * 5
        for answer in answers[6:]:
            throttled(answer)
        assert len(svc.services.auth.throttle.local) > 0, "counted in this process"
        assert (await svc.post(RIGHT, "10.0.0.6")).status_code == 200


async def test_a_redis_command_error_falls_back_to_the_process_too() -> None:
    """NOPERM (a partial ACL) is a deployment fault, not an outage: still no 503, still limited."""
    async with service() as svc:

        def refuse(*_: Any, **__: Any) -> Any:
            raise ResponseError("NOPERM User has no permissions to run the 'eval' command")

        svc.services.ops.client.pipeline = refuse  # type: ignore[method-assign]
        svc.services.ops.client.eval = refuse  # type: ignore[method-assign]
        statuses = await svc.statuses(WRONG, "10.0.0.1", 7)
        assert statuses == [401] * 5 + [429] * 2, statuses


# -- keys, settings, cleanup ----------------------------------------------------------------------------------------


async def test_keys_hold_no_raw_username_and_all_expire() -> None:
    async with service() as svc:
        secret_name = "alice.secret-name@example.com"
        await svc.statuses({"username": secret_name, "password": "x"}, "10.0.0.1", 3)
        await svc.post(RIGHT, "10.0.0.1")
        r = svc.services.ops.client
        keys = [k async for k in r.scan_iter("ac:l*")]
        assert {k.split(":")[1] for k in keys} == {"lfc", "lfu", "lfa", "lka"}, keys
        assert not [k for k in keys if "alice" in k], keys
        assert all(len(k) < 100 for k in keys)
        for key in keys:
            assert await r.pttl(key) > 0, key


async def test_cleanup_gives_a_throttle_key_its_window_not_the_refresh_lifetime() -> None:
    async with service() as svc:
        r = svc.services.ops.client
        await r.set("ac:lfc:0123:10.0.0.1", "5")
        await r.set("ac:lfa:10.0.0.1", "100")
        report = await svc.services.cleanup.run()
        assert report.ttl_added == 2
        assert 0 < await r.ttl("ac:lfc:0123:10.0.0.1") <= 900
        assert 0 < await r.ttl("ac:lfa:10.0.0.1") <= 900


@pytest.mark.parametrize("limit", ["login_max_failures_per_client", "login_max_failures_per_account"])
def test_production_refuses_a_limit_turned_off(limit: str) -> None:
    settings = Settings(env="production", **{limit: 0})  # type: ignore[arg-type]
    assert any("AUTHCHAOS_LOGIN_MAX_FAILURES" in p for p in settings.production_problems())
    assert not any("AUTHCHAOS_LOGIN_MAX_FAILURES" in p for p in Settings(env="production").production_problems())


async def test_a_forwarded_port_does_not_make_a_fresh_client() -> None:
    async with service(login_client_header="x-forwarded-for") as svc:
        for port in range(5):
            assert (
                await svc.post(WRONG, "10.0.0.250", **{"X-Forwarded-For": f"203.0.113.9:{4000 + port}"})
            ).status_code == 401
        throttled(await svc.post(WRONG, "10.0.0.250", **{"X-Forwarded-For": "203.0.113.9"}))
        for port in range(5):
            r = await svc.post(WRONG, "10.0.0.250", **{"X-Forwarded-For": f"[2001:db8:9::1]:{4000 + port}"})
            assert r.status_code == 401
        throttled(await svc.post(WRONG, "10.0.0.250", **{"X-Forwarded-For": "2001:db8:9::2"}))


async def test_a_proxy_the_throttle_is_not_told_about_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    async with service() as svc:
        with caplog.at_level("WARNING", logger="authchaos.http"):
            for _ in range(3):
                await svc.post(WRONG, "10.0.0.251", **{"X-Forwarded-For": "203.0.113.10"})
        warnings = [r for r in caplog.records if "AUTHCHAOS_LOGIN_CLIENT_HEADER is unset" in r.getMessage()]
        assert len(warnings) == 1
