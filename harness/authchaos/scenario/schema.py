"""Scenario files: a declarative experiment, validated before anything starts.

A scenario says what the service looks like (settings, bug switches), what
"healthy" means (the steady-state hypothesis, checked before and after), what
clients do (the workload), what breaks and when (the fault timeline), and
what must hold (checks and latency SLOs).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from authchaos.checks.expectations import Expectations
from authchaos.faults.fault_spec import FAULT_KINDS, FaultEvent, SlowRedis
from authchaos.record.strict_model import StrictModel, validation_message, yaml_text
from authchaos.sut.bug_switches import KNOWN_BUGS
from authchaos.topology.topology_kinds import TopologyKind
from authchaos.workload.operations import OPERATIONS
from authchaos.workload.probes import SteadyState
from authchaos.workload.workload_spec import Workload


class ScenarioError(Exception):
    """A scenario file is wrong; the message names the file, the field and what is allowed."""


class RedisSpec(StrictModel):
    topology: TopologyKind = Field(
        "single",
        description="single: one redis-server; sentinel: a primary, two replicas, three sentinels (quorum 2); "
        "cluster: three primaries with one replica each. Every node behind its own Toxiproxy proxy.",
    )


class ServiceSpec(StrictModel):
    redis: RedisSpec = Field(default_factory=RedisSpec)
    bugs: list[str] = []
    env: dict[str, str] = Field(default_factory=dict, description="AUTHCHAOS_* settings for the service")
    workers: int = Field(1, ge=1, le=8)
    aof: bool = Field(False, description="run redis-server with appendonly (fsync everysec)")
    tls: bool = Field(False, description="redis-server speaks TLS only; the service connects with rediss://")
    contract: str | None = Field(
        None, description="the service's contract file (relative to this file); none: the reference service"
    )
    accounts: int = Field(
        0,
        ge=0,
        le=20,
        description="the harness writes the reference service's users file (AUTHCHAOS_USERS): the contract's users "
        "plus, per client, this many members and staff (admins) that retire_account removes, disables and demotes",
    )
    requires: list[str] = Field(
        default_factory=list,
        description="env settings the witness depends on: a service whose contract maps none of them is not "
        "driven by this scenario (it is left out by name), rather than run without them and judged wrongly",
    )

    @model_validator(mode="after")
    def _known_bugs(self) -> ServiceSpec:
        if self.contract is not None:
            return self  # the contract names its service's switches; checked when the service starts
        unknown = sorted(set(self.bugs) - KNOWN_BUGS)
        if unknown:
            raise ValueError(f"bugs: unknown bug switch {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_BUGS))}")
        return self

    @model_validator(mode="after")
    def _accounts_of_the_reference_service(self) -> ServiceSpec:
        if self.accounts and self.contract is not None:
            raise ValueError(
                "accounts: the harness manages only the reference service's users file; drop accounts or contract"
            )
        return self

    @model_validator(mode="after")
    def _required_set(self) -> ServiceSpec:
        unset = [k for k in self.requires if k not in self.env]
        if unset:
            raise ValueError(f"requires: {', '.join(unset)} not set in service.env; set it there or drop it")
        return self

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


class Scenario(StrictModel):
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
    def _slow_within_the_command_timeout(self) -> Scenario:
        """A slow Redis counts as healthy: only while its replies come well inside the service's command timeout,
        which the scenario must therefore set (in service.env), at least twice the slowest round trip."""
        timeout = self.service.env.get("AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S")
        for i, ev in enumerate(self.faults):
            if not isinstance(ev.fault, SlowRedis):
                continue
            slowest_ms = ev.fault.ms + ev.fault.jitter_ms
            if timeout is None or float(timeout) * 1000 < 2 * slowest_ms:
                raise ValueError(
                    f"faults[{i}]: slow_redis of up to {slowest_ms} ms needs service.env "
                    f"AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S of at least {2 * slowest_ms / 1000:g} (else it is an outage)"
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

    @field_validator("expect")
    @classmethod
    def _expected_operations(cls, expect: Expectations) -> Expectations:
        """The checks own ``expect:``; the operations it names belong to the workload, so they are checked here."""
        named = [(f"slo[{i}]", r.op) for i, r in enumerate(expect.slo)]
        named += [(f"status[{i}]", r.op) for i, r in enumerate(expect.status)]
        for where, op in named:
            if op not in OPERATIONS:
                raise ValueError(f"{where}.op: unknown operation {op!r}; known: {', '.join(OPERATIONS)}")
        return expect

    def with_contract(self, contract: Path | None) -> Scenario:
        """The same scenario driving the service of ``contract`` (a contract file) instead of the one it names."""
        if contract is None:
            return self
        service = self.service.model_copy(update={"contract": str(contract)})
        copy = self.model_copy(update={"service": service})
        copy.source = self.source
        return copy

    @property
    def fault_kinds(self) -> list[str]:
        return [ev.fault.kind for ev in self.faults]


def parse_scenario(data: object, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping (name:, workload:, faults:, ...)")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(validation_message(exc, Scenario, source, _UNION_TAGS)) from None
    scenario.source = source
    return scenario


# pydantic puts the discriminator value into error locations (faults[0].fault.latency.ms); drop it
_UNION_TAGS = frozenset(FAULT_KINDS)


def read_yaml(path: Path) -> object:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return yaml_text(path, text, ScenarioError)


def load_scenario(path: Path) -> Scenario:
    return parse_scenario(read_yaml(path), str(path))
