"""pytest plugin (entry point ``pytest11``): real infrastructure as fixtures, on the drivers' own lifecycle.

Installing authchaos gives any suite these fixtures:
  redis_server   a real redis-server on a free port (session)
  fresh_redis    the same, flushed and running, for one test
  toxiproxy      a real toxiproxy-server (session), or the one at AUTHCHAOS_EXTERNAL_TOXIPROXY_URL
  redis_proxy    a Toxiproxy proxy in front of redis_server, rolled back after the test
  fault          the nemesis of the selected backend: ``with injected(fault, Latency(ms=200)):``
  auth_service   the service under test, its Redis behind the fault injector; ``.url``, ``.keys``:
                 the reference one, or *yours*, started from ``--authchaos-contract FILE`` (or the
                 ``authchaos_contract`` ini option, a path relative to the rootdir)
  auth_service_factory(env, contract=None)  the same with an environment (bug switches, policy) of your own
  auth_call      ``auth_call("login", username=..., password=...)``: one operation through the contract,
                 the answer in canonical words (``.status``, ``.body["access_token"]``, ``.body["error"]``)
The infrastructure is ``authchaos.run.infrastructure.Infrastructure`` and each service a
``RunLifecycle``, as in ``authchaos run``: the same settings, secrets and teardown order.
``--authchaos-backend real|embedded|auto`` picks the backend (default auto). There
is no ``--host`` option here: Locust's pytest plugin owns that name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from authchaos.faults.nemesis import Nemesis, RealNemesis
from authchaos.record.exchange import build_request, read_answer
from authchaos.record.protocol import parse_body
from authchaos.record.service_contract import ARGUMENTS, ContractError, ServiceContract, load_contract
from authchaos.run.infrastructure import InfraOptions, Infrastructure, choose_backend
from authchaos.run.lifecycle import RunLifecycle, ServicePlan
from authchaos.servers.binaries import BinaryMissing
from authchaos.servers.processes import StartError
from authchaos.servers.redis_server import RedisServer
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.servers.toxiproxy_server import ToxiproxyServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("authchaos")
    group.addoption(
        "--authchaos-backend",
        choices=("real", "embedded", "auto"),
        default="auto",
        help="real: redis-server + Toxiproxy; embedded: fakeredis with emulated faults; auto: real when installed",
    )
    group.addoption(
        "--authchaos-contract",
        default=None,
        help="your service's contract file: auth_service starts that service (default: the reference one)",
    )
    parser.addini("authchaos_contract", "your service's contract file, relative to the rootdir", default="")


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


@pytest.fixture
def real_infrastructure(
    fresh_redis: RedisServer, toxiproxy: ToxiproxyServer | ExternalToxiproxy
) -> Iterator[Infrastructure]:
    """The session's Redis behind a proxy of this test's own on the session's Toxiproxy; rolled back after."""
    options = InfraOptions(
        backend="real", shared_redis=fresh_redis, external_toxiproxy_url=toxiproxy.api_url, external_redis_url=None
    )
    with Infrastructure(options) as infra:
        yield infra


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
def redis_proxy(real_infrastructure: Infrastructure) -> RedisProxy:
    infra = real_infrastructure
    assert infra.client is not None and infra.proxy_port is not None and isinstance(infra.nemesis, RealNemesis)
    return RedisProxy(infra.proxy_name, infra.proxy_port, infra.client, infra.nemesis)


@pytest.fixture
def chaos_backend(authchaos_backend: str, request: pytest.FixtureRequest) -> Iterator[Infrastructure]:
    """The selected backend's infrastructure: ``.service_redis_url``, ``.nemesis``, ``.connection_class``."""
    if authchaos_backend == "real":
        yield request.getfixturevalue("real_infrastructure")
        return
    with Infrastructure(InfraOptions(backend="embedded")) as infra:
        yield infra


@pytest.fixture
def fault(chaos_backend: Infrastructure) -> Nemesis:
    """The nemesis in front of the service's Redis; use ``authchaos.faults.nemesis.injected(fault, ...)``."""
    assert chaos_backend.nemesis is not None
    return chaos_backend.nemesis


@pytest.fixture(scope="session")
def service_contract(request: pytest.FixtureRequest) -> ServiceContract:
    """The contract of the service under test: ``--authchaos-contract``, the ini option, or the reference one."""
    flag, ini = request.config.getoption("--authchaos-contract"), request.config.getini("authchaos_contract")
    path = Path(flag) if flag else (request.config.rootpath / str(ini) if ini else None)
    try:
        return load_contract(path)
    except ContractError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def auth_service_factory(
    chaos_backend: Infrastructure, service_contract: ServiceContract
) -> Iterator[Callable[..., RunLifecycle]]:
    """``start(env, contract=None)``: the service (the session's contract's, or ``contract``) on the test's
    Redis, a ``RunLifecycle``, stopped after the test."""
    started: list[RunLifecycle] = []

    def start(env: dict[str, str] | None = None, contract: ServiceContract | None = None) -> RunLifecycle:
        chosen = contract or service_contract
        try:
            plan = ServicePlan.build(env or {}, [], contract=chosen)
        except ValueError as exc:  # an unknown bug switch: the user's to fix
            pytest.fail(str(exc), pytrace=False)
        run = RunLifecycle(plan, infra=chaos_backend)
        try:
            started.append(run.open())
        except (StartError, ValueError) as exc:
            run.close()
            why = str(exc).replace("use --backend real", "use --authchaos-backend real")
            pytest.fail(why if why.startswith(chosen.name) else f"{chosen.name}: {why}", pytrace=False)
        return run

    try:
        yield start
    finally:
        for run in reversed(started):
            run.close()


@pytest.fixture
def auth_service(auth_service_factory: Callable[..., RunLifecycle]) -> RunLifecycle:
    """The service under test (the reference one with fast Redis timeouts, or the contract's) behind the fault
    injector."""
    return auth_service_factory({"AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S": "1", "AUTHCHAOS_BREAKER_RESET_S": "0.2"})


@dataclass(frozen=True)
class Called:
    status: int
    body: Any  # canonical: access_token/refresh_token on success, error/message on failure
    undeclared: str | None  # why the answer matched nothing the contract declares (None: it did)
    degraded: bool = False  # the contract's degraded header was on the answer


@dataclass
class ContractCaller:
    """One operation at a time, built and read through the service's contract."""

    url: str
    contract: ServiceContract
    timeout_s: float = 5.0

    def __call__(self, operation: str, **args: Any) -> Called:
        unknown = sorted(set(args) - set(ARGUMENTS))
        if unknown:  # a misspelled argument would silently send a request without it
            raise TypeError(f"auth_call({operation!r}): unknown argument {', '.join(unknown)}; known: {ARGUMENTS}")
        spec = self.contract.operation(operation)
        if spec is None:
            pytest.skip(f"the contract {self.contract.name} declares no {operation}")
        username = str(args.get("username") or self.contract.users.user.username)
        req = build_request(spec, args, username=username)
        answer = httpx.request(req.method, self.url + req.path, timeout=self.timeout_s, **req.options())
        body = parse_body(answer.text)
        read = read_answer(self.contract, spec, answer.status_code, body, answer.headers, dict(answer.cookies))
        header = self.contract.degraded_header
        return Called(answer.status_code, read.body, read.undeclared, bool(header and header in answer.headers))


@pytest.fixture
def auth_call(auth_service: RunLifecycle) -> ContractCaller:
    """``auth_call("login", username="alice", password="wonderland")`` against ``auth_service``."""
    return ContractCaller(auth_service.url, auth_service.contract)
