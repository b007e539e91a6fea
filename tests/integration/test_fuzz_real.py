"""API fuzzing against ``authchaos serve`` on a real redis-server: hostile tokens, hostile bodies, the OpenAPI schema.

CI runs a bounded profile with a fixed seed; ``make fuzz`` sets AUTHCHAOS_FUZZ_EXAMPLES for the long one
(more than 10,000 requests). The service log must hold no traceback and no error line afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings

from authchaos.servers.redis_server import RedisServer
from authchaos.sut.service_process import AuthServiceProcess
from authchaos_reference.config import load_settings
from tests.hostile import codec_for, fuzz_examples, hostile_bodies, hostile_tokens, post_everywhere, present_everywhere

pytestmark = pytest.mark.integration

CODEC = codec_for(load_settings(redis_url="memory://"))  # the development keys, as the served process has
FUZZ = settings(
    max_examples=fuzz_examples(60),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
COUNT = {"requests": 0}


@pytest.fixture(scope="module")
def served(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServiceProcess]:
    with AuthServiceProcess(redis_server.url, log_dir=tmp_path_factory.mktemp("fuzz-service")) as service:
        yield service
    log = (service.log_dir / "service.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    print(f"fuzz: {COUNT['requests']} generated requests, service log clean")


@pytest.fixture(scope="module")
def client(served: AuthServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def admin(client: httpx.Client) -> str:
    return str(
        client.post("/auth/login", json={"username": "admin", "password": "admin-secret"}).json()["access_token"]
    )


@FUZZ
@given(case=hostile_tokens(CODEC))
def test_hostile_tokens_on_real_redis(client: httpx.Client, admin: str, case: tuple[str, bool]) -> None:
    COUNT["requests"] += present_everywhere(client, *case, admin)


@FUZZ
@given(body=hostile_bodies())
def test_hostile_bodies_on_real_redis(client: httpx.Client, admin: str, body: bytes) -> None:
    COUNT["requests"] += post_everywhere(client, body, admin)


def test_openapi_schema_fuzz_on_real_redis(served: AuthServiceProcess) -> None:
    """Schemathesis cases for every operation of the served schema (its pytest fixture loader does not run
    on pytest 9, so the operations' strategies are driven by Hypothesis directly)."""
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @seed(11)
        @settings(
            max_examples=fuzz_examples(30),
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(base_url=served.url, timeout=30)
            COUNT["requests"] += 1
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )

        call()
