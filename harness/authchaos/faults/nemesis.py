"""The nemesis: applies faults to the real infrastructure and always undoes them.

A network fault becomes Toxiproxy toxics (or a disabled proxy) on the Redis
proxy; a process fault acts on the RedisServer. ``rollback`` restores both
from the server's actual state, not from bookkeeping, so leftovers from an
interrupted run are removed too.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from authchaos.faults.fault_spec import Fault, FaultBase, RedisProcess, ReplicatedRedis, ServiceProcess
from authchaos.servers.toxic_spec import ToxicSpec

if TYPE_CHECKING:
    from authchaos.servers.toxiproxy_client import ToxiproxyClient

log = logging.getLogger("authchaos.nemesis")
_tags = itertools.count(1)


class FaultNotSupported(Exception):
    """This backend cannot produce the fault; it is reported as skipped, by name."""


class Nemesis(Protocol):
    backend: str

    def supports(self, fault: Fault) -> bool: ...

    def start(self, fault: Fault) -> None: ...

    def stop(self, fault: Fault) -> None: ...

    def rollback(self) -> list[str]: ...


@contextmanager
def injected(nemesis: Nemesis, fault: Fault) -> Iterator[Fault]:
    """The fault is active inside the block; stopped on any exit, Ctrl-C included."""
    nemesis.start(fault)
    try:
        yield fault
    finally:
        nemesis.stop(fault)


class RealNemesis:
    """Faults through a real Toxiproxy proxy and a real redis-server; each fault says what it does."""

    backend = "real"

    def __init__(
        self,
        toxiproxy: ToxiproxyClient,
        proxy: str,
        redis: RedisProcess | None = None,
        *,
        replicated: ReplicatedRedis | None = None,
    ) -> None:
        """``replicated``: what the replicated faults act on (the run hands in its topology's actions)."""
        self.toxiproxy = toxiproxy
        self.proxy = proxy
        self.redis = redis
        self._toxics: dict[int, list[str]] = {}
        self._replicated = replicated

    def supports(self, fault: Fault) -> bool:
        if fault.target == "replicated":  # without a topology, starting it says why it is skipped
            return self._replicated is None or fault.supported_on(self._replicated.kind)
        return fault.target in ("network", "slow") or (
            fault.target in ("process", "command") and self.redis is not None
        )

    def start(self, fault: Fault) -> None:
        log.info("fault start: %s", fault.describe())
        fault.start_real(self)

    def stop(self, fault: Fault) -> None:
        log.info("fault stop: %s", fault.describe())
        fault.stop_real(self)

    # -- RealTargets: what faults act on --------------------------------------

    def add_toxics(self, fault: FaultBase) -> None:
        specs: list[ToxicSpec] = fault.toxics(prefix=f"ac{next(_tags)}")
        if not specs:
            raise FaultNotSupported(f"{fault.kind} declares no toxics and no proxy or process action")
        self._toxics[id(fault)] = [s.name for s in specs]
        for spec in specs:
            self.toxiproxy.add_toxic(self.proxy, spec)

    def remove_toxics(self, fault: FaultBase) -> None:
        for name in self._toxics.pop(id(fault), []):
            self.toxiproxy.remove_toxic(self.proxy, name)

    def set_proxy_enabled(self, enabled: bool) -> None:
        self.toxiproxy.set_enabled(self.proxy, enabled)

    def server(self) -> RedisProcess:
        if self.redis is None:
            raise FaultNotSupported("process faults need a redis-server started by the harness (not external mode)")
        return self.redis

    def replicated(self) -> ReplicatedRedis:
        if self._replicated is None:
            raise FaultNotSupported("replicated faults need a sentinel or cluster topology (service.redis.topology)")
        return self._replicated

    def service(self) -> ServiceProcess:
        raise FaultNotSupported("service faults act on the service the run started (faults/service_nemesis.py)")

    def rollback(self) -> list[str]:
        if self._replicated is not None:
            undone = self._replicated.rollback()
            self._toxics.clear()
            return undone
        undone = self.toxiproxy.rollback([self.proxy])
        self._toxics.clear()
        if self.redis is not None:
            if self.redis.paused:
                self.redis.resume()
                undone.append("redis/resumed")
            if not self.redis.alive():
                self.redis.restart()
                undone.append("redis/restarted")
            if self.redis.denied:
                self.redis.allow_all()
                undone.append("redis/acl-restored")
        if undone:
            log.warning("rollback undid: %s", ", ".join(undone))
        return undone
