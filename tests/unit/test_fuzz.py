"""API fuzzing in-process on fakeredis: hostile tokens and bodies (Hypothesis) and the OpenAPI schema (Schemathesis)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings

from authchaos_reference.app import create_app
from authchaos_reference.config import load_settings
from tests.hostile import (
    codec_for,
    fuzz_examples,
    hostile_bodies,
    hostile_tokens,
    post_everywhere,
    present_everywhere,
    service_signed,
)

SETTINGS = load_settings(redis_url="memory://fuzz-unit")
CODEC = codec_for(SETTINGS)
FUZZ = settings(
    max_examples=fuzz_examples(60),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(SETTINGS), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def admin(client: TestClient) -> str:
    return str(
        client.post("/auth/login", json={"username": "admin", "password": "admin-secret"}).json()["access_token"]
    )


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, bad[:3]


@FUZZ
@given(case=hostile_tokens(CODEC))
def test_hostile_tokens_never_5xx_never_accepted(
    client: TestClient, admin: str, case: tuple[str, bool], caplog: pytest.LogCaptureFixture
) -> None:
    present_everywhere(client, *case, admin)
    no_tracebacks(caplog)


@FUZZ
@given(token=service_signed(CODEC))
def test_service_signed_hostile_numbers_never_5xx(
    client: TestClient, admin: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    present_everywhere(client, token, False, admin)
    no_tracebacks(caplog)


@FUZZ
@given(body=hostile_bodies())
def test_hostile_bodies_never_5xx(
    client: TestClient, admin: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    post_everywhere(client, body, admin)
    no_tracebacks(caplog)


SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", create_app(load_settings(redis_url="memory://fuzz-schema")))


@SCHEMA.parametrize()
@seed(11)
@settings(max_examples=fuzz_examples(25), deadline=None, derandomize=True, database=None)
def test_openapi_schema_fuzz_never_5xx(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
