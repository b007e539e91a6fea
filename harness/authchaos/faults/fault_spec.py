"""Faults named in the domain's words, as data, each declaring how every backend produces it.

A fault class is the one place that knows its fault: the Toxiproxy toxics (or the proxy
or process action) that produce it on the real backend, and how the embedded backend
emulates it (or that it cannot, so it is reported as skipped). Adding a fault kind is one
class here, added to ``Fault``, plus its test.

Also here: ``FaultEvent``, one fault on a scenario's timeline as planned (windows as they happened are
``authchaos.record.windows``, so the history, the checkers and the reports need nothing from here).
"""

from __future__ import annotations

import logging
import random
from typing import Annotated, ClassVar, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from authchaos.servers.toxic_spec import ToxicSpec

log = logging.getLogger("authchaos.nemesis")

Target = Literal["network", "slow", "process", "replicated", "service", "stall", "command", "maintenance"]
# What the embedded backend can do below its fakeredis client (see harness/faults/embedded.py).
Emulation = Literal["delay", "stall", "reset", "disconnect", "wipe", "restart", "refuse"]


class RedisProcess(Protocol):
    """The process actions a real redis-server offers (``authchaos.servers.redis_server.RedisServer``)."""

    paused: bool

    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def restart(self, *, lose_data: bool = False) -> None: ...
    def flush(self) -> None: ...
    def alive(self) -> bool: ...
    def deny(self, commands: tuple[str, ...]) -> None: ...
    def allow_all(self) -> None: ...
    @property
    def denied(self) -> bool: ...


class ReplicatedRedis(Protocol):
    """What the replicated faults act on: a sentinel or cluster topology
    (``authchaos.topology.topology_actions.TopologyActions``). "The primary" is the sentinels' primary, or in
    a cluster the primary of the first shard (slot 0), as the topology sees it when the fault starts."""

    kind: str

    def failover(self) -> None: ...
    def kill_primary(self) -> None: ...
    def partition_primary(self) -> None: ...
    def freeze_replicas(self) -> None: ...
    def kill_shard(self, slot: int = 0) -> None: ...
    def migrate_slots(self, count: int) -> None: ...
    def heal(self) -> list[str]: ...
    def rollback(self) -> list[str]: ...


class ServiceProcess(Protocol):
    """What the service faults act on: the service under test as the run started it (``authchaos.sut``)."""

    def kill(self) -> None: ...
    def restart(self) -> None: ...
    def alive(self) -> bool: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def start_cleanup(self, every_s: float) -> None: ...
    def stop_cleanup(self) -> str: ...


class ServiceTargets(Protocol):
    def service(self) -> ServiceProcess: ...


class RealTargets(Protocol):
    """What a fault can act on in the real backend (``RealNemesis`` provides it)."""

    def add_toxics(self, fault: FaultBase) -> None: ...
    def remove_toxics(self, fault: FaultBase) -> None: ...
    def set_proxy_enabled(self, enabled: bool) -> None: ...
    def server(self) -> RedisProcess: ...
    def replicated(self) -> ReplicatedRedis: ...
    def service(self) -> ServiceProcess: ...


class FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    target: ClassVar[Target] = "network"
    emulation: ClassVar[Emulation | None] = None  # None: the embedded backend cannot produce it honestly

    def supported_on(self, topology: str) -> bool:
        """Replicated faults name the topologies that can produce them."""
        return True

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude={"kind"}).items() if v not in (None, 1.0))
        return f"{self.kind}({attrs})" if attrs else self.kind

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        """The Toxiproxy toxics that produce this fault; empty for proxy and process faults."""
        return []

    def start_real(self, on: RealTargets) -> None:
        on.add_toxics(self)

    def stop_real(self, on: RealTargets) -> None:
        on.remove_toxics(self)

    # embedded emulation parameters (only read for the matching ``emulation``)
    def delay_s(self, rng: random.Random) -> float:
        return 0.0

    def close_after_s(self) -> float | None:
        return None

    def loses_data(self) -> bool:
        return self.emulation == "wipe"


class _NetworkFault(FaultBase):
    toxicity: float = Field(1.0, gt=0, le=1, description="share of connections affected")

    def _spec(self, prefix: str, type_: str, stream: str, **attrs: int) -> ToxicSpec:
        return ToxicSpec(f"{prefix}-{type_}-{stream}", type_, stream, self.toxicity, attrs)


def _split(total: int, direction: str) -> list[tuple[str, int]]:
    if direction == "both":
        return [("upstream", total // 2), ("downstream", total - total // 2)]
    return [(direction, total)]


class Latency(_NetworkFault):
    """Round-trip delay added to every Redis reply, split over both directions unless one is named."""

    kind: Literal["latency"] = "latency"
    emulation: ClassVar[Emulation | None] = "delay"
    ms: int = Field(ge=0, le=600_000)
    jitter_ms: int = Field(0, ge=0)
    direction: Literal["both", "upstream", "downstream"] = "both"

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        # one direction per toxic: a round trip pays both halves
        jitters = dict(_split(self.jitter_ms, self.direction))
        return [
            self._spec(prefix, "latency", s, latency=part, jitter=jitters[s])
            for s, part in _split(self.ms, self.direction)
        ]

    def delay_s(self, rng: random.Random) -> float:
        return max(0.0, (self.ms + rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000)


SLOW_MAX_MS = 500  # slower than this, and a service's command timeout may well be shorter: then it is an outage


class SlowRedis(Latency):
    """Redis slower but still answering within the service's command timeout (the scenario sets one well above
    ``ms``): a slow dependency, not an outage. The checks count Redis as healthy meanwhile (target ``slow``):
    requests get slower, and a service saturated by them must shed (503 overloaded) rather than take its own
    lateness for a dead Redis: no breaker opened, no degraded answer, no 503 store_unavailable."""

    kind: Literal["slow_redis"] = "slow_redis"  # type: ignore[assignment]
    target: ClassVar[Target] = "slow"
    ms: int = Field(ge=1, le=SLOW_MAX_MS)


class Timeout(_NetworkFault):
    """Data is dropped; after ``ms`` the connection is closed (0: never, a blackhole)."""

    kind: Literal["timeout"] = "timeout"
    emulation: ClassVar[Emulation | None] = "stall"
    ms: int = Field(0, ge=0)

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        # replies are lost (the command may still have run: an unknown outcome), then the peer closes
        return [self._spec(prefix, "timeout", "downstream", timeout=self.ms)]

    def close_after_s(self) -> float | None:
        return self.ms / 1000 if self.ms > 0 else None


class Blackhole(_NetworkFault):
    """Connections open, nothing ever answers (Toxiproxy's timeout toxic at 0)."""

    kind: Literal["blackhole"] = "blackhole"
    emulation: ClassVar[Emulation | None] = "stall"

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        return [self._spec(prefix, "timeout", s, timeout=0) for s in ("upstream", "downstream")]


class DropRequests(_NetworkFault):
    """Commands never reach Redis (a one-way partition): unlike ``timeout``, no write lands, yet the client
    cannot tell the two apart. No embedded emulation: fakeredis runs a command as soon as it is sent."""

    kind: Literal["drop_requests"] = "drop_requests"

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        return [self._spec(prefix, "timeout", "upstream", timeout=0)]


class ResetPeer(_NetworkFault):
    """Connections are reset (TCP RST) after ``timeout_ms``."""

    kind: Literal["reset_peer"] = "reset_peer"
    emulation: ClassVar[Emulation | None] = "reset"
    timeout_ms: int = Field(0, ge=0)

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        return [self._spec(prefix, "reset_peer", "downstream", timeout=self.timeout_ms)]


class Bandwidth(_NetworkFault):
    kind: Literal["bandwidth"] = "bandwidth"
    rate_kbps: int = Field(ge=0, description="KB/s; 0 stalls the data")
    direction: Literal["both", "upstream", "downstream"] = "downstream"

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        streams = ["upstream", "downstream"] if self.direction == "both" else [self.direction]
        return [self._spec(prefix, "bandwidth", s, rate=self.rate_kbps) for s in streams]


class SlowClose(_NetworkFault):
    kind: Literal["slow_close"] = "slow_close"
    delay_ms: int = Field(ge=0)

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        return [self._spec(prefix, "slow_close", "downstream", delay=self.delay_ms)]


class Slicer(_NetworkFault):
    kind: Literal["slicer"] = "slicer"
    average_size: int = Field(1, ge=1)
    size_variation: int = Field(0, ge=0)
    delay_us: int = Field(0, ge=0)

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        attrs = {"average_size": self.average_size, "size_variation": self.size_variation, "delay": self.delay_us}
        return [self._spec(prefix, "slicer", "downstream", **attrs)]


class LimitData(_NetworkFault):
    """Each connection is closed after ``bytes`` have passed."""

    kind: Literal["limit_data"] = "limit_data"
    bytes: int = Field(ge=0)

    def toxics(self, prefix: str) -> list[ToxicSpec]:
        return [self._spec(prefix, "limit_data", "downstream", bytes=self.bytes)]


class Down(FaultBase):
    """The path to Redis is gone: the proxy stops listening and drops open connections."""

    kind: Literal["down"] = "down"
    emulation: ClassVar[Emulation | None] = "disconnect"

    def start_real(self, on: RealTargets) -> None:
        on.set_proxy_enabled(False)

    def stop_real(self, on: RealTargets) -> None:
        on.set_proxy_enabled(True)


class _ProcessFault(FaultBase):
    target: ClassVar[Target] = "process"


class Kill(_ProcessFault):
    """kill -9 the redis-server; it is restarted (same data dir) when the fault ends."""

    kind: Literal["kill"] = "kill"
    emulation: ClassVar[Emulation | None] = "disconnect"

    def start_real(self, on: RealTargets) -> None:
        on.server().kill()

    def stop_real(self, on: RealTargets) -> None:
        if not on.server().alive():
            on.server().restart()


class Freeze(_ProcessFault):
    """SIGSTOP the redis-server for the fault's duration, then SIGCONT."""

    kind: Literal["freeze"] = "freeze"
    emulation: ClassVar[Emulation | None] = "stall"

    def start_real(self, on: RealTargets) -> None:
        on.server().pause()

    def stop_real(self, on: RealTargets) -> None:
        on.server().resume()


class Restart(_ProcessFault):
    """Restart the redis-server; ``lose_data`` wipes its files first (a restart into empty data)."""

    kind: Literal["restart"] = "restart"
    emulation: ClassVar[Emulation | None] = "restart"
    lose_data: bool = False

    def start_real(self, on: RealTargets) -> None:
        on.server().restart(lose_data=self.lose_data)

    def stop_real(self, on: RealTargets) -> None:
        return None

    def loses_data(self) -> bool:
        return self.lose_data


class Flush(_ProcessFault):
    kind: Literal["flush"] = "flush"
    emulation: ClassVar[Emulation | None] = "wipe"

    def start_real(self, on: RealTargets) -> None:
        on.server().flush()

    def stop_real(self, on: RealTargets) -> None:
        return None


# Commands the harness itself needs on the same ACL user (to restore it, to reach and probe the server).
UNDENIABLE = frozenset({"acl", "auth", "hello", "ping", "client", "select", "reset", "quit", "multi", "exec"})


class CommandDenied(FaultBase):
    """Redis refuses ``commands`` (NOPERM, by ACL) for the fault's duration, as for a deployment whose ACL user
    lacks a command the service needs; it answers everything else at once. Not an outage: the service must
    fail closed (503) where it needs the command and serve the rest from Redis, with no degraded answer, no
    fallback login and no breaker opened. Both backends produce it (the embedded one refuses the commands in
    its fakeredis socket, before they run)."""

    kind: Literal["command_denied"] = "command_denied"
    target: ClassVar[Target] = "command"
    emulation: ClassVar[Emulation | None] = "refuse"
    commands: tuple[str, ...] = Field(("evalsha", "eval"), min_length=1)

    @field_validator("commands")
    @classmethod
    def _names(cls, commands: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in commands if not c.replace("_", "").isalpha()]
        if bad:
            raise ValueError(f"commands: {', '.join(bad)} is not a Redis command name (evalsha, eval, set, ...)")
        lowered = tuple(c.lower() for c in commands)
        kept = sorted(set(lowered) & UNDENIABLE)
        if kept:
            raise ValueError(f"commands: {', '.join(kept)} would lock the harness out of its own Redis; deny others")
        return lowered

    def start_real(self, on: RealTargets) -> None:
        on.server().deny(self.commands)

    def stop_real(self, on: RealTargets) -> None:
        on.server().allow_all()


class ServiceFault(FaultBase):
    """A fault of the service process itself; the run applies it (``faults/service_nemesis.WithService``)."""

    target: ClassVar[Target] = "service"

    def start_real(self, on: ServiceTargets) -> None:
        raise NotImplementedError

    def stop_real(self, on: ServiceTargets) -> None:
        raise NotImplementedError


class ServiceKill(ServiceFault):
    """kill -9 the service under test, every worker at once (a crash, an OOM kill); a new process starts on the
    same port when the fault ends, as a supervisor would. Whatever the service held only in memory is gone:
    outage sessions it had not registered, its retry memory, its local revocations. Both backends produce it
    (the embedded one stops its in-process server without shutdown and builds a new one on the same Redis)."""

    kind: Literal["service_kill"] = "service_kill"

    def start_real(self, on: ServiceTargets) -> None:
        on.service().kill()

    def stop_real(self, on: ServiceTargets) -> None:
        if not on.service().alive():
            on.service().restart()


PAUSE_MAX_S = 1.0  # longer, and a frozen process cannot tell its own stall from a silent Redis


class ServicePause(ServiceFault):
    """SIGSTOP every process of the service, SIGCONT when the fault ends (a stop-the-world pause: a frozen VM, a
    throttled container, a long GC). Redis stays healthy: its replies arrive in time and sit unread, so the
    commands the service had sent time out late by the service's own fault. It must take that for its own
    lateness (shed with 503 overloaded, or answer) and never for a Redis outage: no breaker opened, no degraded
    answer, no 503 store_unavailable. Keep it under a second: a process frozen longer than that cannot tell,
    on waking, its own stall from a Redis that stopped answering (its last success is as old as either); the
    scenario file is refused past PAUSE_MAX_S."""

    kind: Literal["service_pause"] = "service_pause"
    target: ClassVar[Target] = "stall"  # the service's own lateness: Redis is no less healthy for it

    def start_real(self, on: ServiceTargets) -> None:
        on.service().pause()

    def stop_real(self, on: ServiceTargets) -> None:
        on.service().resume()


class ServiceCleanup(ServiceFault):
    """The service's own Redis cleanup (SCAN + UNLINK: ``authchaos cleanup``, or the contract's
    ``start.cleanup``), pass after pass beside the workload for the fault's duration. Before each pass the
    reference service's keyspace is seeded with what cleanup exists for: orphaned session members, TTL-less
    orphans, and live sessions and revocations whose TTL an older version never set. Cleanup may remove only
    the orphans: nothing live may be lost, no revocation cut short."""

    kind: Literal["cleanup"] = "cleanup"
    target: ClassVar[Target] = "maintenance"  # the service's own work beside the traffic: no outage of anything
    every_s: float = Field(0.5, gt=0, le=30, description="pause between two passes")

    def start_real(self, on: ServiceTargets) -> None:
        on.service().start_cleanup(self.every_s)

    def stop_real(self, on: ServiceTargets) -> None:
        log.info("cleanup: %s", on.service().stop_cleanup())


class _ReplicatedFault(FaultBase):
    """A fault of a replicated topology; the embedded backend (one fakeredis) skips it, by name."""

    target: ClassVar[Target] = "replicated"
    topologies: ClassVar[tuple[str, ...]] = ("sentinel", "cluster")

    def supported_on(self, topology: str) -> bool:
        return topology in self.topologies

    def stop_real(self, on: RealTargets) -> None:
        on.replicated().heal()


class Failover(_ReplicatedFault):
    """A planned failover: SENTINEL FAILOVER, or CLUSTER FAILOVER on the first shard's replica."""

    kind: Literal["failover"] = "failover"

    def start_real(self, on: RealTargets) -> None:
        on.replicated().failover()


class KillPrimary(_ReplicatedFault):
    """kill -9 the primary (no persistence): its replicas are promoted; restarted when the fault ends, it
    rejoins as a replica of the new primary."""

    kind: Literal["kill_primary"] = "kill_primary"

    def start_real(self, on: RealTargets) -> None:
        on.replicated().kill_primary()


class PartitionPrimary(_ReplicatedFault):
    """Split brain (Sentinel): the primary is cut from its replicas and the sentinels (the ACL user they
    authenticate as is switched off on it and their connections dropped) while clients still reach it. Healed
    when the fault ends; the sentinels then demote it and whatever it acknowledged alone is gone. Not offered on
    a cluster: Redis 7 takes any bus traffic a node sends as proof of life, and a node's outbound bus links go
    through its peers' proxies, so cutting one node's bus proxy does not isolate it."""

    kind: Literal["partition_primary"] = "partition_primary"
    topologies: ClassVar[tuple[str, ...]] = ("sentinel",)

    def start_real(self, on: RealTargets) -> None:
        on.replicated().partition_primary()


class ReplicaLag(_ReplicatedFault):
    """The primary's replicas stop applying the replication stream (SIGSTOP) for the fault's duration:
    the primary keeps acknowledging writes no replica has. (A latency toxic cannot do it: replicas and
    clients reach the primary through the same proxy, so it would slow the clients' answers equally.)"""

    kind: Literal["replica_lag"] = "replica_lag"

    def start_real(self, on: RealTargets) -> None:
        on.replicated().freeze_replicas()


class KillShard(_ReplicatedFault):
    """kill -9 the primary serving ``slot`` and its replica: that shard's slots have no node until the fault ends
    (restarted without persistence, it comes back empty)."""

    kind: Literal["kill_shard"] = "kill_shard"
    topologies: ClassVar[tuple[str, ...]] = ("cluster",)
    slot: int = Field(0, ge=0, le=16383)

    def start_real(self, on: RealTargets) -> None:
        on.replicated().kill_shard(self.slot)


class SlotMigration(_ReplicatedFault):
    """Move ``slots`` slots that hold keys from the first shard to the second (SETSLOT IMPORTING/MIGRATING,
    MIGRATE, SETSLOT NODE) while traffic runs: clients get ASK and MOVED redirections."""

    kind: Literal["slot_migration"] = "slot_migration"
    topologies: ClassVar[tuple[str, ...]] = ("cluster",)
    slots: int = Field(16, ge=1, le=5461)

    def start_real(self, on: RealTargets) -> None:
        on.replicated().migrate_slots(self.slots)


Fault = Annotated[
    Latency
    | SlowRedis
    | Timeout
    | Blackhole
    | DropRequests
    | ResetPeer
    | Bandwidth
    | SlowClose
    | Slicer
    | LimitData
    | Down
    | Kill
    | Freeze
    | Restart
    | Flush
    | CommandDenied
    | ServiceKill
    | ServicePause
    | ServiceCleanup
    | Failover
    | KillPrimary
    | PartitionPrimary
    | ReplicaLag
    | KillShard
    | SlotMigration,
    Field(discriminator="kind"),
]

FAULT_CLASSES: tuple[type[FaultBase], ...] = get_args(get_args(Fault)[0])
FAULT_KINDS: tuple[str, ...] = tuple(t.model_fields["kind"].default for t in FAULT_CLASSES)
EMULATED: tuple[str, ...] = tuple(t.model_fields["kind"].default for t in FAULT_CLASSES if t.emulation is not None)
REPLICATED_KINDS: tuple[str, ...] = tuple(
    k.model_fields["kind"].default for k in FAULT_CLASSES if k.target == "replicated"
)


class FaultEvent(BaseModel):
    """One fault on the timeline, as planned: start ``at`` seconds in, last ``for`` seconds (none: instant)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at_s: float = Field(0.0, ge=0, alias="at")
    for_s: float | None = Field(None, ge=0, alias="for")
    fault: Fault

    @model_validator(mode="after")
    def _pause_is_short(self) -> FaultEvent:
        """A stall is the service's own lateness only while it is short: a process frozen for seconds cannot tell,
        on waking, its stall from a Redis that stopped answering."""
        if isinstance(self.fault, ServicePause) and (self.for_s is None or not 0 < self.for_s <= PAUSE_MAX_S):
            raise ValueError(
                f"service_pause needs `for:` between 0 and {PAUSE_MAX_S:g} s (a short stall, not an outage)"
            )
        return self
