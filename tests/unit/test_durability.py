"""AUTHCHAOS_REVOCATION_DURABILITY=replicas:N: parsed strictly, and failing closed when no replica confirms."""

from __future__ import annotations

import pytest

from authchaos_reference.config import ConfigError
from tests.support import make_settings, running_service


def test_durability_setting_is_parsed_strictly() -> None:
    assert make_settings().durable_replicas == 0
    assert make_settings(revocation_durability="replicas:2").durable_replicas == 2
    for bad in ("replicas:0", "replicas:x", "all", "2"):
        with pytest.raises(ConfigError, match="replicas:N"):
            make_settings(revocation_durability=bad)
    with pytest.raises(ConfigError, match="cluster"):
        make_settings(revocation_durability="replicas:1", redis_url="redis+cluster://127.0.0.1:7000")
    with pytest.raises(ConfigError, match="must leave 100 ms"):
        make_settings(revocation_durability="replicas:1", revocation_durability_timeout_ms=150)
    assert make_settings(revocation_durability="replicas:1").revocation_durability_timeout_ms == 50


async def test_without_replicas_revocations_and_rotations_fail_closed() -> None:
    """fakeredis has no replicas (and no WAIT): nothing that must be durable is acknowledged."""
    async with running_service(redis_url="memory://durability-off") as plain:
        pair = await plain.login()  # a session registered without durability, on the same store
    async with running_service(redis_url="memory://durability-off", revocation_durability="replicas:1") as svc:
        assert (await svc.me(pair["access_token"])).status_code == 200
        refresh = await svc.refresh(pair["refresh_token"])
        assert refresh.status_code == 503 and refresh.json()["error"] == "store_unavailable"
        assert refresh.headers.get("retry-after")
        logout = await svc.client.post("/auth/logout", headers={"Authorization": f"Bearer {pair['access_token']}"})
        assert logout.status_code == 503
        assert (await svc.client.get("/health")).json()["status"] == "ok"  # Redis answered: no outage


async def test_following_the_primary_is_a_no_op_without_sentinels() -> None:
    async with running_service() as svc:
        assert await svc.services.ops.follow_primary() is False
