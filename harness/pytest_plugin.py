"""pytest plugin (entry point ``pytest11``): real infrastructure as fixtures.

Another project's suite gets ``redis_server`` (a real redis-server on a free
port, stopped after the session) just by installing authchaos. There is no
``--host`` option here: Locust's own pytest plugin owns that name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.services.binaries import BinaryMissing
from harness.services.redis_server import RedisServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: drives real faults against real processes")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session; each test should flush what it needs clean."""
    try:
        server = RedisServer()
    except BinaryMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> RedisServer:
    """The session's redis-server, flushed and running (restarted if a test killed it)."""
    if redis_server.paused:
        redis_server.resume()
    if not redis_server.alive():
        redis_server.restart()
    redis_server.flush()
    return redis_server
