"""Runs one scenario end to end: plan -> services + faults + workload -> history -> checks.

Chaos Toolkit's shape: verify the steady state, inject, verify again, and
roll back whatever happens. Jepsen's: the workload and the nemesis run
concurrently and only record; the checkers judge afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.checks import CheckContext, CheckResult, run_checks
from harness.faults.timeline import TimelineResult, run_timeline
from harness.history import History
from harness.infra import Backend, InfraOptions, Infrastructure
from harness.legacy_corpus import Outcome, build_corpus, replay_corpus
from harness.scenario.model import Scenario
from harness.scenario.steady_state import check_steady_state
from harness.services.auth_service import AuthServiceProcess
from harness.services.inprocess_service import InProcessService
from harness.workload.runner import WorkloadStatus, run_workload
from reference_impl.bugs import parse_bugs
from reference_impl.config import load_settings
from reference_impl.jwt_codec import TokenCodec

log = logging.getLogger("authchaos.runner")

# Fast failure detection for the harness; a scenario's service.env overrides any of these.
HARNESS_DEFAULTS = {
    "AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S": "0.5",
    "AUTHCHAOS_REDIS_CONNECT_TIMEOUT_S": "0.5",
    "AUTHCHAOS_BREAKER_RESET_S": "0.5",
    "AUTHCHAOS_PROBE_INTERVAL_S": "0.2",
}
SECRET_KEYS = (
    "AUTHCHAOS_JWT_ACCESS_SECRET",
    "AUTHCHAOS_JWT_REFRESH_SECRET",
    "AUTHCHAOS_JWT_REFRESH_RETIRED_SECRETS",  # so the legacy corpus can show a retired kid still verifying
)


@dataclass
class ScenarioResult:
    scenario: Scenario
    seed: int
    backend: str
    backend_reason: str
    started_at: str
    service_env: dict[str, str]
    duration_s: float = 0.0
    history: History | None = None
    timeline: TimelineResult = field(default_factory=TimelineResult)
    steady: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    corpus: list[Outcome] = field(default_factory=list)
    aborted: str | None = None
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error:
            return "error"
        if self.aborted or self.failed_checks:
            return "fail"
        return "pass"

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and not c.finding]

    @property
    def findings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.finding]


def service_env(scenario: Scenario) -> dict[str, str]:
    """The service's AUTHCHAOS_* settings: harness defaults < scenario < bug switches from both.

    Secrets come from the caller's environment, or are made up for this run;
    they are never part of the returned (reported) mapping.
    """
    env = {**HARNESS_DEFAULTS, **scenario.service.env}
    bugs = set(scenario.service.bugs) | set(parse_bugs(os.environ.get("AUTHCHAOS_BUGS", "")))
    env["AUTHCHAOS_BUGS"] = ",".join(sorted(bugs))
    return env


def run_secrets() -> dict[str, str]:
    return {k: os.environ.get(k) or secrets.token_urlsafe(48) for k in SECRET_KEYS}


async def run_scenario(
    scenario: Scenario,
    *,
    backend: Backend = "auto",
    seed: int | None = None,
    target: str | None = None,
    on_progress: Callable[[str, float], None] | None = None,
) -> ScenarioResult:
    """Run one scenario; never raises for a failing service, only records. Ctrl-C: rolls back, marks aborted.

    With ``target``, the service is already running elsewhere: nothing is started, its keys come
    from the environment, and faults need an external Toxiproxy proxy (else they are skipped).
    """
    seed = scenario.seed if seed is None else seed
    env = service_env(scenario)
    keys = {k: os.environ[k] for k in SECRET_KEYS if os.environ.get(k)} if target else run_secrets()
    progress = on_progress or (lambda phase, frac: None)
    infra = Infrastructure(
        InfraOptions(
            backend=backend, aof=scenario.service.aof, tls=scenario.service.tls, external_service=target is not None
        )
    )
    result = ScenarioResult(
        scenario, seed, infra.backend, infra.choice.reason, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), env
    )
    started = time.monotonic()
    service: Any = None
    try:
        progress("starting services", 0.0)
        await asyncio.to_thread(infra.start)
        full_env = {**env, **keys, **infra.service_env}
        settings = load_settings(
            **{k.removeprefix("AUTHCHAOS_").lower(): v for k, v in full_env.items()},
            redis_url="memory://" if target else infra.service_redis_url,  # only the keys matter here
        )
        if target:
            url = target
        else:
            if infra.backend == "real":
                service = AuthServiceProcess(infra.service_redis_url, env=full_env, workers=scenario.service.workers)
            else:
                service = InProcessService(
                    infra.service_redis_url, env=full_env, connection_class=infra.connection_class
                )
            await asyncio.to_thread(service.start)
            url = service.url
        progress("steady state (before)", 0.0)
        before = await check_steady_state(url, scenario.steady_state.probes, "before", retry_for_s=5)
        result.steady["before"] = before.as_dict()
        if not before.passed:
            result.error = "steady-state hypothesis failed before any fault: the service is not healthy to begin with"
            return result
        if scenario.legacy_corpus:
            progress("legacy token corpus", 0.0)
            result.corpus = await asyncio.to_thread(replay_corpus, build_corpus(settings), url)
        await _experiment(scenario, seed, infra, url, TokenCodec(settings), result, progress)
        progress("steady state (after)", 1.0)
        after = await check_steady_state(
            url, scenario.steady_state.probes, "after", retry_for_s=scenario.expect.recovery_max_s
        )
        result.steady["after"] = after.as_dict()
    except asyncio.CancelledError:
        result.aborted = "interrupted (Ctrl-C): faults rolled back, services stopped"
    except Exception as exc:  # the harness itself could not run: reported as an error, exit 2
        log.debug("scenario %s could not run", scenario.name, exc_info=True)  # -vv shows the traceback
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if service is not None:
            await asyncio.shield(asyncio.to_thread(service.stop))
        extra = await asyncio.shield(asyncio.to_thread(infra.rollback))
        result.timeline.rollback.extend(x for x in extra if x not in result.timeline.rollback)
        await asyncio.shield(asyncio.to_thread(infra.close))
        result.duration_s = round(time.monotonic() - started, 3)
    judge(result)
    return result


async def _experiment(
    scenario: Scenario,
    seed: int,
    infra: Infrastructure,
    url: str,
    codec: TokenCodec,
    result: ScenarioResult,
    progress: Callable[[str, float], None],
) -> None:
    assert infra.nemesis is not None
    t0 = time.monotonic_ns()
    history = History(t0)
    result.history = history
    status = WorkloadStatus()
    duration = scenario.workload.duration_s

    def tick() -> None:
        elapsed = (time.monotonic_ns() - t0) / 1e9
        active = [w.name for w in result.timeline.windows if w.start_ns and not w.end_ns]
        progress(f"during {', '.join(active)}" if active else "workload", min(elapsed / duration, 1.0))

    timeline = asyncio.create_task(run_timeline(infra.nemesis, scenario.faults, t0, result.timeline))
    try:
        await run_workload(
            scenario.workload, url, history, seed=seed, codec=codec,
            abort_after_s=scenario.abort_after_s, status=status, on_op=tick,
        )  # fmt: skip
    finally:
        if not timeline.done():
            timeline.cancel()
        await asyncio.gather(timeline, return_exceptions=True)
        history.windows = result.timeline.windows
        history.label_phases()
    if status.aborted:
        result.aborted = status.aborted


def judge(result: ScenarioResult) -> None:
    """Run the scenario's checkers over whatever history was recorded (partial ones included)."""
    if result.history is None:
        return
    ctx = CheckContext(
        result.history.ops,
        result.history.windows,
        result.scenario.expect,
        reuse_grace_s=float(result.service_env.get("AUTHCHAOS_REUSE_GRACE_S", 0)),
        degraded_max_s=float(result.service_env.get("AUTHCHAOS_DEGRADED_MAX_S", 30)),
        steady=result.steady,
        corpus=result.corpus,
    )
    result.checks = run_checks(ctx, result.scenario.expect.checks)
    for check in result.checks:
        check.finding = not check.passed and check.name in result.scenario.expect.known_findings
