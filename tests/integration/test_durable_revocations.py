"""replicas:N durability on a real Sentinel topology: acknowledged once a replica has it, 503 when none can."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authchaos.faults.fault_spec import ReplicaLag
from authchaos.faults.nemesis import injected
from authchaos.run.infrastructure import InfraOptions, Infrastructure
from tests.support import running_service

pytestmark = pytest.mark.integration
FAST = {"redis_command_timeout_s": 0.5, "redis_connect_timeout_s": 0.5, "revocation_durability": "replicas:1"}


@pytest.fixture(scope="module")
def sentinel() -> Iterator[Infrastructure]:
    with Infrastructure(InfraOptions(backend="real", topology="sentinel")) as infra:
        yield infra


async def test_durable_rotation_and_revocation_fail_closed_while_replicas_lag(sentinel: Infrastructure) -> None:
    async with running_service(redis_url=sentinel.service_redis_url, **FAST) as svc:
        pair = await svc.login()
        rotated = await svc.refresh(pair["refresh_token"])
        assert rotated.status_code == 200, rotated.text  # two replicas in sync: WAIT 1 answers at once
        assert sentinel.nemesis is not None
        with injected(sentinel.nemesis, ReplicaLag()):
            assert (await svc.me(rotated.json()["access_token"])).status_code == 200  # reads are not held back
            held = await svc.refresh(rotated.json()["refresh_token"])
            assert held.status_code == 503 and held.json()["error"] == "store_unavailable"
            other = await svc.login()
            headers = {"Authorization": f"Bearer {other['access_token']}"}
            assert (await svc.client.post("/auth/logout", headers=headers)).status_code == 503  # not acknowledged
        again = await svc.refresh(rotated.json()["refresh_token"])  # the retry completes the rotation it proposed
        assert again.status_code == 200, again.text
        headers = {"Authorization": f"Bearer {again.json()['access_token']}"}
        assert (await svc.client.post("/auth/logout", headers=headers)).status_code == 200
        assert (await svc.me(again.json()["access_token"])).status_code == 401
