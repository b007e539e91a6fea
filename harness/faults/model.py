"""Faults named in the domain's words, as data (scenario files load straight into these).

Network faults act on the path to Redis (a Toxiproxy proxy, or the embedded
connection); process faults act on the redis-server process itself.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def target(self) -> Literal["network", "process"]:
        return "network"

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude={"kind"}).items() if v not in (None, 1.0))
        return f"{self.kind}({attrs})" if attrs else self.kind  # type: ignore[attr-defined]


class _NetworkFault(_Fault):
    toxicity: float = Field(1.0, gt=0, le=1, description="share of connections affected")


class Latency(_NetworkFault):
    """Round-trip delay added to every Redis reply, split over both directions unless one is named."""

    kind: Literal["latency"] = "latency"
    ms: int = Field(ge=0, le=600_000)
    jitter_ms: int = Field(0, ge=0)
    direction: Literal["both", "upstream", "downstream"] = "both"


class Timeout(_NetworkFault):
    """Data is dropped; after ``ms`` the connection is closed (0: never, a blackhole)."""

    kind: Literal["timeout"] = "timeout"
    ms: int = Field(0, ge=0)


class Blackhole(_NetworkFault):
    """Connections open, nothing ever answers (Toxiproxy's timeout toxic at 0)."""

    kind: Literal["blackhole"] = "blackhole"


class ResetPeer(_NetworkFault):
    """Connections are reset (TCP RST) after ``timeout_ms``."""

    kind: Literal["reset_peer"] = "reset_peer"
    timeout_ms: int = Field(0, ge=0)


class Bandwidth(_NetworkFault):
    kind: Literal["bandwidth"] = "bandwidth"
    rate_kbps: int = Field(ge=0, description="KB/s; 0 stalls the data")
    direction: Literal["both", "upstream", "downstream"] = "downstream"


class SlowClose(_NetworkFault):
    kind: Literal["slow_close"] = "slow_close"
    delay_ms: int = Field(ge=0)


class Slicer(_NetworkFault):
    kind: Literal["slicer"] = "slicer"
    average_size: int = Field(1, ge=1)
    size_variation: int = Field(0, ge=0)
    delay_us: int = Field(0, ge=0)


class LimitData(_NetworkFault):
    """Each connection is closed after ``bytes`` have passed."""

    kind: Literal["limit_data"] = "limit_data"
    bytes: int = Field(ge=0)


class Down(_Fault):
    """The path to Redis is gone: the proxy stops listening and drops open connections."""

    kind: Literal["down"] = "down"


class _ProcessFault(_Fault):
    @property
    def target(self) -> Literal["network", "process"]:
        return "process"


class Kill(_ProcessFault):
    """kill -9 the redis-server; it is restarted (same data dir) when the fault ends."""

    kind: Literal["kill"] = "kill"


class Freeze(_ProcessFault):
    """SIGSTOP the redis-server for the fault's duration, then SIGCONT."""

    kind: Literal["freeze"] = "freeze"


class Restart(_ProcessFault):
    """Restart the redis-server; ``lose_data`` wipes its files first (a restart into empty data)."""

    kind: Literal["restart"] = "restart"
    lose_data: bool = False


class Flush(_ProcessFault):
    kind: Literal["flush"] = "flush"


Fault = Annotated[
    Latency
    | Timeout
    | Blackhole
    | ResetPeer
    | Bandwidth
    | SlowClose
    | Slicer
    | LimitData
    | Down
    | Kill
    | Freeze
    | Restart
    | Flush,
    Field(discriminator="kind"),
]

FAULT_KINDS: tuple[str, ...] = tuple(t.model_fields["kind"].default for t in get_args(get_args(Fault)[0]))
