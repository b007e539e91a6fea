"""One scenario end to end: plan -> services + faults + workload -> history -> checks.

Chaos Toolkit's shape: verify the steady state, inject, verify again, and roll back
whatever happens (``RunLifecycle``). Jepsen's: the workload and the nemesis run
concurrently and only record; the checkers judge afterwards (``judge``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authchaos.checks import CheckResult, judge
from authchaos.record.history import History
from authchaos.record.service_contract import ContractError, ServiceContract, load_contract
from authchaos.run.infrastructure import Backend
from authchaos.run.lifecycle import RunLifecycle, ServicePlan
from authchaos.run.results import ScenarioResult
from authchaos.scenario.schema import Scenario
from authchaos.workload.client import ServiceSide, ServiceTimes
from authchaos.workload.generator import WorkloadStatus, run_workload
from authchaos.workload.legacy_corpus import CorpusResult, build_corpus, replay_corpus
from authchaos.workload.probes import check_steady_state

log = logging.getLogger("authchaos.experiment")
Progress = Callable[[str, float], None]


@dataclass
class Observations:
    """What the experiment saw so far; kept when it is cut short, so a partial run is still judged."""

    history: History | None = None
    steady: dict[str, Any] = field(default_factory=dict)
    corpus: list[CorpusResult] = field(default_factory=list)
    aborted: str | None = None
    error: str | None = None
    skipped: dict[str, list[str]] = field(default_factory=dict)  # workload operations skipped, by name, and why


def contract_of(scenario: Scenario) -> ServiceContract:
    """The scenario's service contract (a path relative to the scenario file), or the reference service's."""
    named = scenario.service.contract
    if named is None:
        return load_contract()
    path = Path(named)
    if not path.is_absolute() and scenario.source and Path(scenario.source).is_file():
        path = Path(scenario.source).parent / path
    return load_contract(path)


def plan_for(scenario: Scenario, code_dir: Path | None = None) -> ServicePlan:
    spec = scenario.service
    return ServicePlan.build(
        spec.env,
        spec.bugs,
        workers=spec.workers,
        aof=spec.aof,
        tls=spec.tls,
        code_dir=code_dir,
        topology=spec.redis.topology,
        contract=contract_of(scenario),
        accounts=(scenario.workload.clients, spec.accounts),
    )


async def run_scenario(
    scenario: Scenario,
    *,
    backend: Backend = "auto",
    seed: int | None = None,
    target: str | None = None,
    on_progress: Progress | None = None,
    allow_skipped: bool = False,
    code_dir: Path | None = None,
) -> ScenarioResult:
    """Run one scenario; never raises for a failing service, only records. Ctrl-C: rolls back, marks interrupted.

    With ``target``, the service is already running elsewhere: nothing is started, its keys come
    from the environment, and faults need an external Toxiproxy proxy (else they are skipped).
    """
    seed = scenario.seed if seed is None else seed
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        plan = plan_for(scenario, code_dir)
    except (ContractError, ValueError) as exc:  # a bad contract or switch: this scenario cannot run as designed
        failed = ScenarioResult(scenario, seed, str(backend), "", started_at, {}, error=str(exc))
        failed.service = target or scenario.service.contract or "reference service"
        return failed
    progress = on_progress or (lambda phase, frac: None)
    started = time.monotonic()
    seen = Observations()
    interrupted = False
    lifecycle = RunLifecycle(plan, backend=backend, target=target)
    try:
        progress("starting services", 0.0)
        async with lifecycle as run:
            await _experiment(scenario, seed, run, seen, progress)
    except asyncio.CancelledError:
        interrupted = True
        seen.aborted = "interrupted (Ctrl-C): faults rolled back, services stopped"
    except Exception as exc:  # the harness itself could not run: reported as an error, exit 2
        log.debug("scenario %s could not run", scenario.name, exc_info=True)  # -vv shows the traceback
        seen.error = f"{type(exc).__name__}: {exc}"
    result = ScenarioResult(
        scenario,
        seed,
        lifecycle.backend,
        lifecycle.backend_reason,
        started_at,
        plan.env,
        round(time.monotonic() - started, 3),
        seen.history,
        lifecycle.timeline,
        seen.steady,
        _judge(scenario, plan, lifecycle, seen),
        seen.corpus,
        seen.aborted,
        interrupted,
        seen.error,
        allow_skipped,
    )
    name = plan.contract.name
    result.service = f"{target} (external)" if target else (name if name.endswith("service") else f"{name} service")
    return result


def _judge(scenario: Scenario, plan: ServicePlan, lifecycle: RunLifecycle, seen: Observations) -> list[CheckResult]:
    """Whatever was recorded is judged, a partial history included; no history, nothing to judge."""
    if seen.history is None:
        return []
    return judge(
        seen.history,
        lifecycle.timeline.windows,
        scenario.expect,
        plan.settings,
        seen.steady,
        seen.corpus,
        min_ops=scenario.workload.clients,
        declared=plan.contract.declared(),
        skipped=seen.skipped,
    )


async def _experiment(scenario: Scenario, seed: int, run: RunLifecycle, seen: Observations, progress: Progress) -> None:
    """Steady state, (corpus), workload under the fault timeline, steady state again."""
    progress("steady state (before)", 0.0)
    before = await check_steady_state(
        run.url, scenario.steady_state.probes, "before", contract=run.contract, retry_for_s=5
    )
    seen.steady["before"] = before.as_dict()
    if not before.passed:
        failed = "; ".join(
            f"{r.op} ({r.path or 'no path'}): {r.status if r.status is not None else 'no answer'}"
            + (f" {r.message}" if r.message else "")
            for r in before.probes
            if not r.passed
        )
        seen.error = f"the service is not healthy to begin with (steady state failed before any fault: {failed})"
        return
    if scenario.legacy_corpus:
        if run.keys is None:
            raise ValueError("legacy_corpus needs the service's keys: set AUTHCHAOS_JWT_ACCESS_SECRET and _REFRESH_")
        progress("legacy token corpus", 0.0)
        corpus = build_corpus(run.keys, run.contract.claims.names)
        seen.corpus = await asyncio.to_thread(replay_corpus, corpus, run.url, contract=run.contract)
    await _workload_under_faults(scenario, seed, run, seen, progress)
    progress("steady state (after)", 1.0)
    after = await check_steady_state(
        run.url,
        scenario.steady_state.probes,
        "after",
        contract=run.contract,
        retry_for_s=scenario.expect.recovery_max_s,
    )
    seen.steady["after"] = after.as_dict()


async def _workload_under_faults(
    scenario: Scenario, seed: int, run: RunLifecycle, seen: Observations, progress: Progress
) -> None:
    t0 = time.monotonic_ns()
    history = seen.history = History(t0)
    status = WorkloadStatus()
    duration = scenario.workload.duration_s

    def tick() -> None:
        elapsed = (time.monotonic_ns() - t0) / 1e9
        active = [w.name for w in run.timeline.windows if w.start_ns and not w.end_ns]
        where = f"workload during {', '.join(active)}" if active else "workload"
        progress(f"{where}: {len(history.ops)} ops", min(elapsed / duration, 1.0))

    settings = run.plan.settings
    run.start_faults(scenario.faults, t0)
    try:
        await run_workload(
            scenario.workload,
            run.url,
            history,
            seed=seed,
            service=ServiceSide(
                run.contract,
                run.keys,
                ServiceTimes(
                    settings.reuse_grace_s,
                    settings.leeway_s,
                    settings.access_ttl_s,
                    settings.session_max_s,
                    settings.login_budget,
                    settings.login_window_s,
                    settings.users_reload_s,
                ),
                run.directory,
            ),
            abort_after_s=scenario.abort_after_s,
            status=status,
            on_op=tick,
        )
    finally:
        await run.stop_faults()
        history.windows = run.timeline.windows
        history.label_phases()
    seen.aborted = status.aborted
    seen.skipped = status.skipped
