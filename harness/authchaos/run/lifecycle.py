"""One run's lifecycle, the same for every driver (scenario runs, Locust load, the pytest fixtures).

Start the infrastructure (Redis behind the fault injector, or the embedded store), start the
service (a subprocess, in-process, or an already running ``--target``), own the fault
timeline, and tear everything down shielded from Ctrl-C, in the one safe order: the nemesis
first (its rollback needs Toxiproxy), then the service, then rollback and the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from authchaos.checks.context import EffectiveSettings
from authchaos.faults.fault_spec import FaultEvent
from authchaos.faults.service_nemesis import WithService
from authchaos.faults.timeline import run_timeline
from authchaos.record.service_contract import ServiceContract, load_contract
from authchaos.record.token_keys import TokenKeys, new_secrets
from authchaos.record.windows import TimelineResult
from authchaos.run.infrastructure import Backend, InfraOptions, Infrastructure
from authchaos.sut.bug_switches import parse_bugs
from authchaos.sut.command_service import CommandService
from authchaos.sut.reference_service import RunningService, start_service, token_keys
from authchaos.topology.topology_kinds import TopologyKind
from authchaos.workload.account_directory import AccountDirectory

# Fast failure detection for the harness; a scenario's service.env overrides any of these.
HARNESS_DEFAULTS = {
    "AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S": "0.5",
    "AUTHCHAOS_REDIS_CONNECT_TIMEOUT_S": "0.5",
    "AUTHCHAOS_BREAKER_RESET_S": "0.5",
    "AUTHCHAOS_PROBE_INTERVAL_S": "0.2",
}


@dataclass(frozen=True)
class ServicePlan:
    """How the service under test is started; ``env`` holds no secrets (it is reported)."""

    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    aof: bool = False
    tls: bool = False
    code_dir: Path | None = None  # run this reference_impl instead (mutation testing)
    topology: TopologyKind = "single"
    contract: ServiceContract = field(default_factory=load_contract)  # the reference service's by default
    accounts: tuple[int, int] = (0, 0)  # (clients, accounts per client) of a users file the harness manages

    @classmethod
    def build(
        cls,
        env: Mapping[str, str],
        bugs: list[str],
        *,
        workers: int = 1,
        aof: bool = False,
        tls: bool = False,
        code_dir: Path | None = None,
        topology: TopologyKind = "single",
        contract: ServiceContract | None = None,
        accounts: tuple[int, int] = (0, 0),
    ) -> ServicePlan:
        """Harness defaults < the caller's env < bug switches (the caller's and ``AUTHCHAOS_BUGS``)."""
        contract = contract or load_contract()
        merged = {**HARNESS_DEFAULTS, **env}
        merged["AUTHCHAOS_BUGS"] = ",".join(sorted(set(bugs) | _switches_from_env(contract)))
        if accounts[1] and contract.kind != "reference":
            raise ValueError(
                f"service.accounts: the harness manages only the reference service's users file, not {contract.name}'s"
            )
        return cls(merged, workers, aof, tls, code_dir, topology, contract, accounts)

    @property
    def settings(self) -> EffectiveSettings:
        return EffectiveSettings.from_env(self.env)


def _switches_from_env(contract: ServiceContract) -> set[str]:
    """``AUTHCHAOS_BUGS`` of the harness's own environment, checked against the switches the service honours."""
    raw = os.environ.get("AUTHCHAOS_BUGS", "")
    if contract.kind == "reference":
        return set(parse_bugs(raw))
    named = {b.strip() for b in raw.split(",") if b.strip()}
    unknown = sorted(named - set(contract.bug_switches))
    if unknown:
        known = ", ".join(contract.bug_switches) or "none"
        raise ValueError(f"AUTHCHAOS_BUGS: {contract.name} has no switch {', '.join(unknown)} (its switches: {known})")
    return named


class RunLifecycle:
    """``async with RunLifecycle(plan) as run:`` gives ``run.url``, ``run.keys`` and the fault timeline.

    ``open()``/``close()`` do the same without an event loop (the pytest fixtures). With ``infra``, the run
    uses infrastructure its caller started and will close (a test's Redis behind its proxy): the lifecycle
    starts and stops only the service and its faults.
    """

    def __init__(
        self,
        plan: ServicePlan,
        *,
        backend: Backend = "auto",
        target: str | None = None,
        infra: Infrastructure | None = None,
    ) -> None:
        self.plan = plan
        self.target = target
        self._own_infra = infra is None
        self.infra = infra or Infrastructure(
            InfraOptions(
                backend=backend, aof=plan.aof, tls=plan.tls, topology=plan.topology, external_service=target is not None
            )
        )
        self.timeline = TimelineResult()
        self.contract = plan.contract
        self.url = target or (plan.contract.url if plan.contract.kind == "external" else None) or ""
        self.keys: TokenKeys | None = TokenKeys.from_env(os.environ) if target else None
        self.secrets: dict[str, str] = {}
        self.service: RunningService | None = None
        self.directory: AccountDirectory | None = None  # the users file, when the plan says the harness manages it
        self._faults: asyncio.Task[None] | None = None

    @property
    def backend(self) -> str:
        return self.infra.backend

    @property
    def backend_reason(self) -> str:
        return self.infra.choice.reason

    def open(self) -> RunLifecycle:
        """Start the infrastructure (unless the caller's) and the service (unless ``--target``)."""
        if self._own_infra:
            self.infra.start()
        if not self.url:
            try:
                self._start_service()
            except BaseException:
                self.close()
                raise
        return self

    def _start_service(self) -> None:
        self.secrets = new_secrets()
        env = {**self.plan.env, **self.secrets, **self.infra.service_env}
        clients, per_client = self.plan.accounts
        if per_client:
            self.directory = AccountDirectory.create(self.contract, clients, per_client)
            env.update(self.directory.env())
        self.keys = token_keys(env)
        if self.contract.kind == "command":
            if self.backend != "real":
                raise ValueError(f"{self.contract.name} runs as its own process on a real Redis: use --backend real")
            self.service = CommandService(
                self.contract, self.infra.service_redis_url, env, keys=self.keys, workers=self.plan.workers
            ).start()
        else:
            self.service = start_service(
                self.backend,
                self.infra.service_redis_url,
                env,
                workers=self.plan.workers,
                connection_class=self.infra.connection_class,
                code_dir=self.plan.code_dir,
            )
        self.url = self.service.url

    def close(self) -> None:
        """Stop the service, then roll back and stop the infrastructure this lifecycle started; safe twice."""
        try:
            if self.service is not None:
                self.service.stop()
                self.service = None
        finally:
            self._close_rest()

    def _close_rest(self) -> None:
        """What follows the service's stop, even when that raised: its users file, then the infrastructure."""
        if self.directory is not None:
            self.directory.remove_file()
            self.directory = None
        if self._own_infra:
            extra = self.infra.rollback()
            self.timeline.rollback.extend(x for x in extra if x not in self.timeline.rollback)
            self.infra.close()

    async def __aenter__(self) -> RunLifecycle:
        opening = asyncio.ensure_future(asyncio.to_thread(self.open))
        try:
            await asyncio.shield(opening)
        except BaseException:  # Ctrl-C while starting: let the start finish (it is bounded), then undo it
            with contextlib.suppress(BaseException):
                await opening
            await asyncio.to_thread(self.close)
            raise
        return self

    def start_faults(self, events: list[FaultEvent], t0_ns: int) -> None:
        """Run ``events`` relative to ``t0_ns`` in the background; windows land in ``self.timeline``."""
        if self.infra.nemesis is not None and events:
            nemesis = WithService(self.infra.nemesis, self.service)  # service faults act on the one we started
            self._faults = asyncio.create_task(run_timeline(nemesis, events, t0_ns, self.timeline))

    async def stop_faults(self) -> None:
        """Stop the timeline (it stops what it started and rolls back); safe to call twice."""
        if self._faults is not None:
            if not self._faults.done():
                self._faults.cancel()
            await asyncio.gather(self._faults, return_exceptions=True)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.shield(self._teardown())

    async def _teardown(self) -> None:
        """The one safe order: the nemesis first (its rollback needs Toxiproxy), then the service, then the rest."""
        with contextlib.suppress(Exception):
            await self.stop_faults()
        await asyncio.to_thread(self.close)
