"""The token-lifecycle state machine (tests/stateful.py) against ``authchaos serve`` on a real redis-server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from authchaos.servers.redis_server import RedisServer
from authchaos.sut.service_process import AuthServiceProcess
from authchaos_reference.config import load_settings
from tests.stateful import Accounts, make_machine

pytestmark = pytest.mark.integration


def test_token_lifecycle_model_holds_on_real_redis(fresh_redis: RedisServer, tmp_path: Path) -> None:
    accounts = Accounts(tmp_path / "users.json")
    accounts.write()
    # One Redis serves every run: the per-address spraying limit would add up the runs' failures (each run's
    # ghost account and alice's restore have their own per-account counters, as in production).
    env = {**accounts.env(), "AUTHCHAOS_SESSION_MAX_S": "6", "AUTHCHAOS_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000"}
    with AuthServiceProcess(fresh_redis.url, log_dir=tmp_path, env=env) as service:

        def client() -> tuple[Any, Any]:
            c = httpx.Client(base_url=service.url, timeout=10)
            return c, c.close

        machine = make_machine(client, load_settings(redis_url="memory://", session_max_s=6), accounts)
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=30,
                stateful_step_count=20,
                deadline=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
        log = (service.log_dir / "service.log").read_text()
    assert "Traceback" not in log, log[-2000:]
