"""pytest plugin (entry point ``pytest11``): real infrastructure as fixtures.

Installing authchaos gives any suite these fixtures:
  redis_server   a real redis-server on a free port (session)
  fresh_redis    the same, flushed and running, for one test
  toxiproxy      a real toxiproxy-server (session)
  redis_proxy    a Toxiproxy proxy in front of redis_server, rolled back after the test
  fault          the nemesis of the selected backend: ``with injected(fault, Latency(ms=200)):``
  auth_service   the reference service, its Redis behind the fault injector; ``.url``
  auth_service_factory(env)  the same with an environment of your own (bug switches, policy)
``--authchaos-backend real|embedded|auto`` picks the backend (default auto). There
is no ``--host`` option here: Locust's pytest plugin owns that name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.faults.embedded import EmbeddedNemesis, FaultyConnection
from harness.faults.nemesis import Nemesis, RealNemesis
from harness.faults.toxiproxy_client import ToxiproxyClient
from harness.infra import choose_backend
from harness.services.binaries import BinaryMissing
from harness.services.processes import free_port
from harness.services.redis_server import RedisServer
from harness.services.reference import RunningService, memory_server, start_service
from harness.services.toxiproxy_server import ToxiproxyServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("authchaos")
    group.addoption(
        "--authchaos-backend",
        choices=("real", "embedded", "auto"),
        default="auto",
        help="real: redis-server + Toxiproxy; embedded: fakeredis with emulated faults; auto: real when installed",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: drives real faults against real processes")


def _real_or_fail(factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except BinaryMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def authchaos_backend(request: pytest.FixtureRequest) -> str:
    try:
        return choose_backend(request.config.getoption("--authchaos-backend")).backend
    except BinaryMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session; tests flush what they need clean."""
    with _real_or_fail(RedisServer) as server:
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


@dataclass
class ExternalToxiproxy:
    api_url: str


@pytest.fixture(scope="session")
def toxiproxy() -> Iterator[ToxiproxyServer | ExternalToxiproxy]:
    """A toxiproxy-server for the session, or the one at AUTHCHAOS_EXTERNAL_TOXIPROXY_URL."""
    external = os.environ.get("AUTHCHAOS_EXTERNAL_TOXIPROXY_URL")
    if external:
        yield ExternalToxiproxy(external)
        return
    with _real_or_fail(ToxiproxyServer) as server:
        yield server


@dataclass
class RedisProxy:
    name: str
    port: int
    client: ToxiproxyClient
    nemesis: RealNemesis

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_proxy(
    fresh_redis: RedisServer, toxiproxy: ToxiproxyServer, request: pytest.FixtureRequest
) -> Iterator[RedisProxy]:
    client = ToxiproxyClient(toxiproxy.api_url)
    name = f"redis-{request.node.name}"[:60]
    port = free_port()
    client.create_proxy(name, f"127.0.0.1:{port}", f"127.0.0.1:{fresh_redis.port}")
    proxy = RedisProxy(name, port, client, RealNemesis(client, name, fresh_redis))
    try:
        yield proxy
    finally:
        proxy.nemesis.rollback()
        client.delete_proxy(name)


@dataclass
class ChaosBackend:
    """What a test needs from the selected backend: a Redis URL for the service and a nemesis."""

    name: str
    redis_url: str
    nemesis: Nemesis
    connection_class: type | None


@pytest.fixture
def chaos_backend(authchaos_backend: str, request: pytest.FixtureRequest) -> Iterator[ChaosBackend]:
    if authchaos_backend == "real":
        proxy: RedisProxy = request.getfixturevalue("redis_proxy")
        yield ChaosBackend("real", proxy.url, proxy.nemesis, None)
        return
    name = f"pytest-{request.node.nodeid}"
    nemesis = EmbeddedNemesis(memory_server(name))
    try:
        yield ChaosBackend("embedded", f"memory://{name}", nemesis, FaultyConnection)
    finally:
        nemesis.rollback()


@pytest.fixture
def fault(chaos_backend: ChaosBackend) -> Nemesis:
    """The nemesis in front of the service's Redis; use ``harness.faults.injected(fault, ...)``."""
    return chaos_backend.nemesis


@pytest.fixture
def auth_service_factory(chaos_backend: ChaosBackend) -> Iterator[Callable[..., RunningService]]:
    """``start(env)``: the reference service on the test's Redis, stopped after the test."""
    started: list[RunningService] = []

    def start(env: dict[str, str] | None = None) -> RunningService:
        service = start_service(
            chaos_backend.name, chaos_backend.redis_url, env or {}, connection_class=chaos_backend.connection_class
        )
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture
def auth_service(auth_service_factory: Callable[..., RunningService]) -> RunningService:
    """The reference service (default settings, fast Redis timeouts) behind the fault injector."""
    return auth_service_factory({"AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S": "1", "AUTHCHAOS_BREAKER_RESET_S": "0.2"})
