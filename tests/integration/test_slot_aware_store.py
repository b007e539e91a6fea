"""The reference service on a real Redis Cluster and a real Sentinel topology (every node behind Toxiproxy):
every Lua script and auth pipeline in one slot, batch blacklist across slots, logout-all across sessions,
and the Sentinel client following a failover."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from authchaos.run.infrastructure import InfraOptions, Infrastructure
from authchaos.servers.processes import wait_until
from authchaos_reference.jwt_codec import Kind, new_id
from authchaos_reference.token_store import KeyLayout
from tests.support import Running, running_service

pytestmark = pytest.mark.integration
FAST = {"redis_command_timeout_s": 0.5, "redis_connect_timeout_s": 0.5}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Infrastructure]:
    with Infrastructure(InfraOptions(backend="real", topology="cluster")) as infra:
        yield infra


@pytest.fixture(scope="module")
def sentinel() -> Iterator[Infrastructure]:
    with Infrastructure(InfraOptions(backend="real", topology="sentinel")) as infra:
        yield infra


async def session(svc: Running) -> tuple[str, str]:
    pair = await svc.login()
    return pair["access_token"], pair["refresh_token"]


async def test_rotation_reuse_and_me_on_a_cluster(cluster: Infrastructure) -> None:
    async with running_service(redis_url=cluster.service_redis_url, **FAST) as svc:
        access, refresh = await session(svc)
        assert (await svc.me(access)).status_code == 200
        rotated = await svc.refresh(refresh)
        assert rotated.status_code == 200, rotated.text
        replay = await svc.refresh(refresh)
        assert replay.status_code == 401 and replay.json()["error"] == "token_reused"
        assert (await svc.refresh(rotated.json()["refresh_token"])).status_code == 401  # the family is revoked
        assert (await svc.me(rotated.json()["access_token"])).status_code == 401


async def test_every_key_of_a_user_is_in_one_slot(cluster: Infrastructure) -> None:
    async with running_service(redis_url=cluster.service_redis_url, **FAST) as svc:
        for _ in range(3):
            _, refresh = await session(svc)
            await svc.refresh(refresh)
        admin = await svc.login("admin", "admin-secret")
        await svc.client.post("/auth/logout", headers={"Authorization": f"Bearer {admin['access_token']}"}, json={})
        client = svc.services.ops.client
        assert isinstance(client, RedisCluster)
        keys = [k async for k in client.scan_iter(match="ac:*")]
        by_user: dict[str, set[int]] = {}
        for key in keys:
            if key == "ac:directory":  # the one key of no user: the set of enabled accounts
                continue
            assert key.startswith("ac:{u:"), key  # the tagged layout, nothing else
            by_user.setdefault(key.split("}", 1)[0], set()).add(key_slot(key.encode()))
        assert set(by_user) >= {"ac:{u:alice", "ac:{u:admin"}
        assert all(len(slots) == 1 for slots in by_user.values())


async def test_batch_blacklist_spans_slots_and_sticks(cluster: Infrastructure) -> None:
    async with running_service(redis_url=cluster.service_redis_url, **FAST) as svc:
        admin = await svc.login("admin", "admin-secret")
        subs = [f"user-{i}" for i in range(60)]
        minted = [(sub, svc.services.tokens.mint(sub, new_id(), new_id())) for sub in subs]
        layout = KeyLayout(tagged=True)
        assert len({key_slot(layout.prefix(sub).encode()) for sub in subs}) > 10
        r = await svc.client.post(
            "/auth/blacklist",
            headers={"Authorization": f"Bearer {admin['access_token']}"},
            json={"tokens": [pair.access_token for _, pair in minted]},
        )
        assert r.status_code == 200 and r.json()["blacklisted"] == len(subs), r.text
        store = svc.services.tokens.store
        for sub, pair in minted:
            claims = svc.services.tokens.codec.verify(pair.access_token, Kind.ACCESS).claims
            assert (await store.auth_lookup(claims["tokenId"], None, sub)).revoked


async def test_logout_all_revokes_every_session_on_a_cluster(cluster: Infrastructure) -> None:
    async with running_service(redis_url=cluster.service_redis_url, **FAST) as svc:
        sessions = [await session(svc) for _ in range(4)]
        r = await svc.client.post(
            "/auth/logout", headers={"Authorization": f"Bearer {sessions[0][0]}"}, json={"all": True}
        )
        assert r.status_code == 200 and r.json()["revoked"] >= 4, r.text
        for access, refresh in sessions:
            assert (await svc.me(access)).status_code == 401
            assert (await svc.refresh(refresh)).status_code == 401


async def test_sentinel_client_follows_a_failover(sentinel: Infrastructure) -> None:
    async with running_service(redis_url=sentinel.service_redis_url, **FAST) as svc:
        access, refresh = await session(svc)
        assert (await svc.me(access)).status_code == 200
        topology = sentinel.topology
        assert topology is not None
        before = topology.primary()
        topology.failover(before)
        assert wait_until(lambda: topology.primary() is not before, 30)
        statuses = []
        for _ in range(100):  # bounded: the client rediscovers the primary through the sentinels
            await asyncio.sleep(0.1)
            r = await svc.refresh(refresh)
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
        assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
        health = (await svc.client.get("/health")).json()
        assert health["redis"]["state"] in ("ready", "failover", "degraded", "down")
