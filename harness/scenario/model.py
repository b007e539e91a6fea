"""Scenario files: a declarative experiment, validated before anything starts.

A scenario says what the service looks like (settings, bug switches), what
"healthy" means (the steady-state hypothesis, checked before and after), what
clients do (the workload), what breaks and when (the fault timeline), and
what must hold (checks and latency SLOs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.checks import check_names
from harness.faults.model import FAULT_KINDS, FaultEvent
from harness.services.reference import KNOWN_BUGS
from harness.services.topology_kinds import TopologyKind
from harness.workload.operations import OPERATIONS


def _known_operation(name: str) -> str:
    if name not in OPERATIONS:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(OPERATIONS)}")
    return name


def _known_checks(checks: list[str]) -> list[str]:
    unknown = sorted(set(checks) - set(check_names()))
    if unknown:
        raise ValueError(f"unknown check {', '.join(unknown)}; known: {', '.join(check_names())}")
    return checks


OpName = Annotated[str, AfterValidator(_known_operation)]
CheckNames = Annotated[list[str], AfterValidator(_known_checks)]


class ScenarioError(Exception):
    """A scenario file is wrong; the message names the file, the field and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RedisSpec(_Strict):
    topology: TopologyKind = Field(
        "single",
        description="single: one redis-server; sentinel: a primary, two replicas, three sentinels (quorum 2); "
        "cluster: three primaries with one replica each. Every node behind its own Toxiproxy proxy.",
    )


class ServiceSpec(_Strict):
    redis: RedisSpec = Field(default_factory=RedisSpec)
    bugs: list[str] = []
    env: dict[str, str] = Field(default_factory=dict, description="AUTHCHAOS_* settings for the service")
    workers: int = Field(1, ge=1, le=8)
    aof: bool = Field(False, description="run redis-server with appendonly (fsync everysec)")
    tls: bool = Field(False, description="redis-server speaks TLS only; the service connects with rediss://")

    @field_validator("bugs")
    @classmethod
    def _known_bugs(cls, bugs: list[str]) -> list[str]:
        unknown = sorted(set(bugs) - KNOWN_BUGS)
        if unknown:
            raise ValueError(f"unknown bug switch {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_BUGS))}")
        return bugs

    @field_validator("env")
    @classmethod
    def _prefixed(cls, env: dict[str, str]) -> dict[str, str]:
        bad = [k for k in env if not k.startswith("AUTHCHAOS_")]
        if bad:
            raise ValueError(f"service env keys must start with AUTHCHAOS_: {', '.join(bad)}")
        secret = [k for k in env if any(w in k for w in ("SECRET", "PASSWORD", "_KEY", "REDIS_URL"))]
        if secret:
            raise ValueError(
                f"{', '.join(secret)}: secrets and Redis URLs come from the environment, not scenario files"
            )
        return {k: str(v) for k, v in env.items()}


class Probe(_Strict):
    op: Literal["login", "oauth_login", "refresh", "me", "health"]
    expect_status: int = 200
    max_latency_ms: float | None = Field(None, gt=0)


class SteadyState(_Strict):
    probes: list[Probe] = Field(
        default_factory=lambda: [Probe(op="health"), Probe(op="login"), Probe(op="me"), Probe(op="refresh")]
    )


class Workload(_Strict):
    clients: int = Field(4, ge=1, le=500)
    duration_s: float = Field(10.0, gt=0, le=3600)
    operations: int | None = Field(None, ge=1, description="stop after this many operations (bounded by duration_s)")
    rate_per_s: float | None = Field(None, gt=0, description="total request rate; none = closed loop with think time")
    think_time_ms: float = Field(20.0, ge=0)
    mix: dict[OpName, float] = Field(default_factory=lambda: {"me": 5.0, "refresh": 3.0, "login": 1.0})
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 100])
    request_timeout_s: float = Field(5.0, gt=0, le=120)

    @field_validator("mix")
    @classmethod
    def _positive(cls, mix: dict[str, float]) -> dict[str, float]:
        if not mix or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError("mix needs at least one operation with a positive weight")
        return mix

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        if not sizes or any(s < 1 or s > 10_000 for s in sizes):
            raise ValueError("batch_sizes must be between 1 and 10000")
        return sizes


class Slo(_Strict):
    op: OpName
    phase: Literal["before", "during", "after", "healthy", "any"] = Field(
        "any", description="healthy: no fault active and none ended within recovery_max_s"
    )
    p50_ms: float | None = Field(None, gt=0)
    p95_ms: float | None = Field(None, gt=0)
    p99_ms: float | None = Field(None, gt=0)
    max_error_ratio: float | None = Field(None, ge=0, le=1, description="share of ops not ok (503s count)")


class StatusRule(_Strict):
    """Which HTTP statuses an operation may get in a phase (the degradation policy, made explicit)."""

    op: OpName
    phase: Literal["before", "during", "after", "any"] = "during"
    allowed: list[int]


class Expectations(_Strict):
    checks: CheckNames = Field(default_factory=lambda: list(check_names()))
    slo: list[Slo] = []
    status: list[StatusRule] = []
    recovery_max_s: float = Field(10.0, gt=0)
    exposure_max_s: float = Field(0.0, ge=0)
    revocation_loss_window_s: float = Field(
        0.0, ge=0, description="revocations acknowledged this long before a kill may be lost (AOF fsync interval)"
    )
    unwritable_max_s: float | None = Field(
        None, gt=0, description="writable_primary fails past this many seconds without a writable primary per fault"
    )
    known_findings: CheckNames = Field(
        default_factory=list, description="checks expected to fail here: reported as findings, not failures"
    )
    shed_min_inflight: int | None = Field(
        None, ge=1, description="explicit shedding (503 overloaded) is correct only with at least this many requests "
        "in flight (load runs); unset: a scenario's few clients never justify it",
    )  # fmt: skip


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)
    description: str = ""
    tags: list[str] = []
    seed: int = 1
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    steady_state: SteadyState = Field(default_factory=SteadyState)
    workload: Workload = Field(default_factory=Workload)
    faults: list[FaultEvent] = []
    expect: Expectations = Field(default_factory=Expectations)
    abort_after_s: float = Field(15.0, gt=0, description="stop and roll back when the service is unreachable this long")
    legacy_corpus: bool = Field(False, description="replay the legacy token corpus (made from the run's keys) first")
    source: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _faults_fit(self) -> Scenario:
        for i, ev in enumerate(self.faults):
            end = ev.at_s + (ev.for_s or 0)
            if end > self.workload.duration_s:
                raise ValueError(
                    f"faults[{i}] ends at {end:g}s, after the workload's duration_s={self.workload.duration_s:g}s"
                )
        return self

    @model_validator(mode="after")
    def _faults_fit_topology(self) -> Scenario:
        topology = self.service.redis.topology
        for i, ev in enumerate(self.faults):
            if ev.fault.target == "replicated" and not ev.fault.supported_on(topology):
                raise ValueError(f"faults[{i}]: {ev.fault.kind} cannot run on service.redis.topology {topology}")
        if topology != "single" and (self.service.tls or self.service.aof):
            raise ValueError(f"service.redis.topology {topology}: tls and aof are for the single topology")
        return self

    @property
    def fault_kinds(self) -> list[str]:
        return [ev.fault.kind for ev in self.faults]


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_scenario(data: object, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping (name:, workload:, faults:, ...)")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{source}: {_where(loc)}: {err['msg']}{more}") from None
    scenario.source = source
    return scenario


# pydantic puts the discriminator value into error locations (faults[0].fault.latency.ms); drop it
_UNION_TAGS = frozenset(FAULT_KINDS)


def read_yaml(path: Path) -> object:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_scenario(path: Path) -> Scenario:
    return parse_scenario(read_yaml(path), str(path))
