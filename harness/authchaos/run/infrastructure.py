"""The infrastructure one run needs, started together and torn down together.

real:     redis-server (or an external Redis) behind a Toxiproxy proxy; the
          service's Redis URL points at the proxy listener.
embedded: a named fakeredis server in this process, faults emulated below the
          client. ``auto`` picks real when both binaries exist and says why not
          otherwise.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

from authchaos.faults.embedded import EmbeddedNemesis, FaultyConnection
from authchaos.faults.fault_spec import Fault
from authchaos.faults.nemesis import FaultNotSupported, Nemesis, RealNemesis
from authchaos.servers.binaries import BinaryMissing, find_redis_server, find_toxiproxy_server
from authchaos.servers.processes import free_port
from authchaos.servers.redis_server import RedisServer
from authchaos.servers.toxiproxy_client import ToxiproxyClient, ToxiproxyError
from authchaos.servers.toxiproxy_server import ToxiproxyServer
from authchaos.sut.reference_service import memory_server
from authchaos.topology.factory import start_topology
from authchaos.topology.topology_actions import TopologyActions
from authchaos.topology.topology_base import Topology
from authchaos.topology.topology_kinds import TopologyKind

log = logging.getLogger("authchaos.infra")
Backend = Literal["auto", "real", "embedded"]
_names = itertools.count(1)


@dataclass(frozen=True)
class BackendChoice:
    backend: Literal["real", "embedded", "external"]
    reason: str


def choose_backend(requested: Backend) -> BackendChoice:
    """Resolve ``auto``; ``real`` with a missing binary raises BinaryMissing with the fix."""
    if requested == "embedded":
        return BackendChoice("embedded", "requested with --backend embedded")
    missing: list[str] = []
    for finder in (find_redis_server, find_toxiproxy_server):
        try:
            finder()
        except BinaryMissing as exc:
            if requested == "real":
                raise
            missing.append(str(exc))
    if missing:
        return BackendChoice("embedded", "real servers unavailable: " + " | ".join(missing))
    return BackendChoice("real", "redis-server and toxiproxy-server found")


@dataclass
class InfraOptions:
    backend: Backend = "auto"
    aof: bool = False
    tls: bool = False
    topology: TopologyKind = "single"  # sentinel and cluster: real backend only (embedded runs one fakeredis)
    external_redis_url: str | None = field(default_factory=lambda: os.environ.get("AUTHCHAOS_EXTERNAL_REDIS_URL"))
    external_toxiproxy_url: str | None = field(
        default_factory=lambda: os.environ.get("AUTHCHAOS_EXTERNAL_TOXIPROXY_URL")
    )
    # An already running service (--target): nothing is started; faults go through the named proxy
    # of the external Toxiproxy, the one in front of that service's Redis, if there is one.
    external_service: bool = False
    external_proxy: str | None = field(default_factory=lambda: os.environ.get("AUTHCHAOS_EXTERNAL_PROXY"))
    # A running redis-server its caller owns (a test session's): put behind our proxy, faulted, never stopped here.
    shared_redis: RedisServer | None = None


class NullNemesis:
    """No way to reach the Redis of an external service: every fault is reported as skipped."""

    backend = "external"
    hint = ": set AUTHCHAOS_EXTERNAL_TOXIPROXY_URL and AUTHCHAOS_EXTERNAL_PROXY to fault its Redis"

    def supports(self, fault: Fault) -> bool:
        return False

    def start(self, fault: Fault) -> None:
        raise FaultNotSupported(f"{fault.kind}: no fault injector for an external service")

    def stop(self, fault: Fault) -> None:
        return None

    def rollback(self) -> list[str]:
        return []


class Infrastructure:
    """Context manager: everything it starts is stopped on exit, on errors and on Ctrl-C."""

    def __init__(self, options: InfraOptions | None = None) -> None:
        self.options = options or InfraOptions()
        if self.options.external_service:
            where = self.options.external_proxy and self.options.external_toxiproxy_url
            reason = (
                f"external service; faults through proxy {self.options.external_proxy} at {where}"
                if where
                else "external service; no fault injector (set AUTHCHAOS_EXTERNAL_TOXIPROXY_URL and "
                "AUTHCHAOS_EXTERNAL_PROXY to fault its Redis)"
            )
            self.choice = BackendChoice("external", reason)
        else:
            self.choice = choose_backend(self.options.backend)
        if self.choice.backend == "embedded" and self.options.topology != "single":
            reason = f"{self.choice.reason}; topology {self.options.topology} needs the real backend: one fakeredis"
            self.choice = BackendChoice("embedded", reason)
        self._own_proxy = True
        self.redis: RedisServer | None = None
        self.topology: Topology | None = None
        self.toxiproxy: ToxiproxyServer | None = None
        self.client: ToxiproxyClient | None = None
        self.proxy_name = f"authchaos-redis-{os.getpid()}-{next(_names)}"
        self.proxy_port: int | None = None
        self.memory_name: str | None = None
        self.nemesis: Nemesis | None = None
        self.connection_class: type | None = None

    @property
    def backend(self) -> str:
        return self.choice.backend

    @property
    def service_redis_url(self) -> str:
        """The Redis URL the service under test must use (through the fault injector)."""
        if self.backend == "embedded":
            return f"memory://{self.memory_name}"
        if self.topology is not None:
            return self.topology.service_url
        scheme = "rediss" if self.redis is not None and self.redis.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.proxy_port}/0"

    @property
    def service_env(self) -> dict[str, str]:
        """Settings the service needs to reach this Redis (the CA of a TLS test server)."""
        if self.redis is not None and self.redis.tls is not None:
            return {"AUTHCHAOS_REDIS_TLS_CA": str(self.redis.tls.ca)}
        return {}

    @property
    def direct_redis_url(self) -> str | None:
        """Redis without the proxy (for checks that must not be faulted)."""
        if self.backend == "embedded":
            return self.service_redis_url
        if self.topology is not None:
            return None  # no single server: the topology's nodes are reached through its proxies
        server = self.redis or self.options.shared_redis
        return self.options.external_redis_url or (server.url if server else None)

    def start(self) -> Infrastructure:
        try:
            if self.backend == "embedded":
                self._start_embedded()
            elif self.backend == "external":
                self._start_external()
            else:
                self._start_real()
        except BaseException:
            self.close()
            raise
        return self

    def _start_embedded(self) -> None:
        self.memory_name = f"authchaos-{os.getpid()}-{next(_names)}"
        self.nemesis = EmbeddedNemesis(memory_server(self.memory_name))
        self.connection_class = FaultyConnection

    def _start_external(self) -> None:
        self._own_proxy = False
        opts = self.options
        if opts.external_proxy and opts.external_toxiproxy_url:
            self.client = ToxiproxyClient(opts.external_toxiproxy_url)
            self.proxy_name = opts.external_proxy
            if opts.external_proxy not in self.client.proxies():
                raise ToxiproxyError(
                    f"AUTHCHAOS_EXTERNAL_PROXY={opts.external_proxy}: no such proxy at {opts.external_toxiproxy_url}"
                )
            self.nemesis = RealNemesis(self.client, self.proxy_name, None)
        else:
            self.nemesis = NullNemesis()

    def _start_real(self) -> None:
        opts = self.options
        if opts.topology != "single":
            self._start_topology(opts.topology)
            return
        process: RedisServer | None = opts.shared_redis
        if opts.shared_redis is not None:
            upstream = f"127.0.0.1:{opts.shared_redis.port}"
        elif opts.external_redis_url:
            parts = urlsplit(opts.external_redis_url)
            upstream = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
        else:
            self.redis = process = RedisServer(aof=opts.aof, tls=opts.tls).start()
            upstream = f"127.0.0.1:{self.redis.port}"
        if opts.external_toxiproxy_url:
            self.client = ToxiproxyClient(opts.external_toxiproxy_url)
        else:
            self.toxiproxy = ToxiproxyServer().start()
            self.client = ToxiproxyClient(self.toxiproxy.api_url)
        self.proxy_port = free_port()
        self.client.create_proxy(self.proxy_name, f"127.0.0.1:{self.proxy_port}", upstream)
        self.nemesis = RealNemesis(self.client, self.proxy_name, process)

    def _start_topology(self, kind: TopologyKind) -> None:
        """Sentinel or cluster on a Toxiproxy of our own; the network faults act on the first primary's proxy."""
        if self.options.external_redis_url or self.options.tls:
            raise ValueError(f"topology {kind}: not with an external Redis or TLS (single topology only)")
        self.toxiproxy = ToxiproxyServer().start()
        self.client = ToxiproxyClient(self.toxiproxy.api_url)
        self._own_proxy = False  # the topology owns and deletes its proxies
        self.topology = start_topology(kind, self.client)
        primary = self.topology.primary()
        self.proxy_name, self.proxy_port = primary.proxy, primary.proxy_port
        actions = TopologyActions(self.topology, self.client)
        self.nemesis = RealNemesis(self.client, self.proxy_name, None, replicated=actions)

    def rollback(self) -> list[str]:
        return self.nemesis.rollback() if self.nemesis else []

    def close(self) -> None:
        """Roll back faults, remove our proxy, stop what we started. Safe to call twice."""
        with contextlib.suppress(Exception):
            self.rollback()
        if self.client is not None and self._own_proxy:
            with contextlib.suppress(Exception):
                self.client.delete_proxy(self.proxy_name)
        if self.topology is not None:
            self.topology.close()
        if self.toxiproxy is not None:
            self.toxiproxy.stop()
        if self.redis is not None:
            self.redis.close()

    def __enter__(self) -> Infrastructure:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def terminate_like_interrupt() -> None:
    """Make SIGTERM unwind like Ctrl-C, so every ``finally`` and ``__exit__`` runs."""
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, signal.default_int_handler)
