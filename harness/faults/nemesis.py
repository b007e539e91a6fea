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
from typing import Protocol

from harness.faults.model import (
    Bandwidth,
    Blackhole,
    Down,
    Fault,
    Flush,
    Freeze,
    Kill,
    Latency,
    LimitData,
    ResetPeer,
    Restart,
    Slicer,
    SlowClose,
    Timeout,
)
from harness.faults.toxiproxy_client import ToxicSpec, ToxiproxyClient
from harness.services.redis_server import RedisServer

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


def _split(total: int, direction: str) -> list[tuple[str, int]]:
    if direction == "both":
        return [("upstream", total // 2), ("downstream", total - total // 2)]
    return [(direction, total)]


def toxics_for(fault: Fault, tag: int) -> list[ToxicSpec]:
    """The Toxiproxy toxics that produce ``fault`` (Toxiproxy 2.12 semantics)."""

    def spec(type_: str, stream: str, **attrs: int) -> ToxicSpec:
        return ToxicSpec(f"ac{tag}-{type_}-{stream}", type_, stream, fault.toxicity, attrs)  # type: ignore[union-attr]

    match fault:
        case Latency(ms=ms, jitter_ms=jitter, direction=direction):
            # one direction per toxic: a round trip pays both halves
            jitters = dict(_split(jitter, direction))
            return [spec("latency", s, latency=part, jitter=jitters[s]) for s, part in _split(ms, direction)]
        case Blackhole():
            return [spec("timeout", s, timeout=0) for s in ("upstream", "downstream")]
        case Timeout(ms=ms):
            # replies are lost (the command may still have run: an unknown outcome), then the peer closes
            return [spec("timeout", "downstream", timeout=ms)]
        case ResetPeer(timeout_ms=ms):
            return [spec("reset_peer", "downstream", timeout=ms)]
        case Bandwidth(rate_kbps=rate, direction=direction):
            streams = ["upstream", "downstream"] if direction == "both" else [direction]
            return [spec("bandwidth", s, rate=rate) for s in streams]
        case SlowClose(delay_ms=ms):
            return [spec("slow_close", "downstream", delay=ms)]
        case Slicer(average_size=avg, size_variation=var, delay_us=delay):
            return [spec("slicer", "downstream", average_size=avg, size_variation=var, delay=delay)]
        case LimitData(bytes=n):
            return [spec("limit_data", "downstream", bytes=n)]
    raise FaultNotSupported(f"{fault.kind} is not a network toxic")


class RealNemesis:
    """Faults through a real Toxiproxy proxy and a real redis-server."""

    backend = "real"

    def __init__(self, toxiproxy: ToxiproxyClient, proxy: str, redis: RedisServer | None = None) -> None:
        self.toxiproxy = toxiproxy
        self.proxy = proxy
        self.redis = redis
        self._toxics: dict[int, list[str]] = {}

    def supports(self, fault: Fault) -> bool:
        return fault.target == "network" or self.redis is not None

    def start(self, fault: Fault) -> None:
        log.info("fault start: %s", fault.describe())
        match fault:
            case Down():
                self.toxiproxy.set_enabled(self.proxy, False)
            case Kill():
                self._server().kill()
            case Freeze():
                self._server().pause()
            case Restart(lose_data=lose):
                self._server().restart(lose_data=lose)
            case Flush():
                self._server().flush()
            case _:
                specs = toxics_for(fault, next(_tags))
                self._toxics[id(fault)] = [s.name for s in specs]
                for s in specs:
                    self.toxiproxy.add_toxic(self.proxy, s)

    def stop(self, fault: Fault) -> None:
        log.info("fault stop: %s", fault.describe())
        match fault:
            case Down():
                self.toxiproxy.set_enabled(self.proxy, True)
            case Kill():
                if not self._server().alive():
                    self._server().restart()
            case Freeze():
                self._server().resume()
            case Restart() | Flush():
                pass
            case _:
                for name in self._toxics.pop(id(fault), []):
                    self.toxiproxy.remove_toxic(self.proxy, name)

    def rollback(self) -> list[str]:
        undone = self.toxiproxy.rollback([self.proxy])
        self._toxics.clear()
        if self.redis is not None:
            if self.redis.paused:
                self.redis.resume()
                undone.append("redis/resumed")
            if not self.redis.alive():
                self.redis.restart()
                undone.append("redis/restarted")
        if undone:
            log.warning("rollback undid: %s", ", ".join(undone))
        return undone

    def _server(self) -> RedisServer:
        if self.redis is None:
            raise FaultNotSupported("process faults need a redis-server started by the harness (not external mode)")
        return self.redis
