"""One load run on the shared run lifecycle: Locust drives, the nemesis injects, the checkers judge."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from authchaos.checks import CheckResult, judge
from authchaos.checks.capacity_knee import capacity, capacity_slos, read_steps
from authchaos.checks.expectations import Slo
from authchaos.drivers.load_summary import print_summary
from authchaos.record.history import History
from authchaos.record.service_contract import load_contract
from authchaos.report.terminal import ProgressLines
from authchaos.report.writer import publish
from authchaos.run.lifecycle import RunLifecycle, ServicePlan
from authchaos.run.load_spec import LoadOptions, load_scenario
from authchaos.run.locust_history import locust_stats, read_history
from authchaos.run.locust_process import live_rps, locust_env, locustfile, spawn_locust, wait_for_master
from authchaos.run.results import EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, ScenarioResult
from authchaos.scenario.schema import Scenario
from authchaos.servers.processes import ManagedProcess


@dataclass
class LoadRecord:
    """What the load run saw; kept when it is cut short."""

    t0_ns: int = field(default_factory=time.monotonic_ns)
    aborted: str | None = None
    interrupted: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    capacity_slos: dict[str, Slo] | None = None  # set for a capacity search


async def run_load(opts: LoadOptions, report_root: Path, console: Console) -> tuple[int, Path | None]:
    scenario = load_scenario(opts)
    contract = load_contract(opts.contract) if opts.contract else None
    plan = ServicePlan.build({}, [], workers=opts.service_workers, contract=contract)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out = report_root / f".load-{os.getpid()}-{int(time.time())}"
    (out / "history").mkdir(parents=True, exist_ok=True)
    record = LoadRecord(capacity_slos=capacity_slos(opts.slo) if opts.profile == "capacity" else None)
    started = time.monotonic()
    lifecycle = RunLifecycle(plan, backend=opts.backend, target=opts.target)
    try:
        async with lifecycle as run:
            await _drive(opts, scenario, run, out, record, console)
    except asyncio.CancelledError:
        record.interrupted = True
        record.aborted = "interrupted (Ctrl-C): faults rolled back, services stopped"
    result = _judge(scenario, plan, lifecycle, out, record, started_at, round(time.monotonic() - started, 3))
    stats = locust_stats(out)
    result.load = {
        "locust": stats,
        **record.info,
        "profile": opts.profile,
        "workers": opts.workers,
        "locustfile": str(locustfile(opts)),
    }
    report_dir = publish([result], started_at, report_root, move_in=out)  # with Locust's own files
    print_summary(console, result, record.info, stats, report_dir)
    if record.interrupted:
        return EXIT_INTERRUPTED, report_dir
    if result.error:
        return EXIT_ERROR, report_dir
    return (EXIT_FAIL if result.verdict != "pass" else EXIT_PASS), report_dir


async def _drive(
    opts: LoadOptions, scenario: Scenario, run: RunLifecycle, out: Path, record: LoadRecord, console: Console
) -> None:
    """Locust against the service while the fault timeline runs; Locust stops before the nemesis does."""
    procs: list[ManagedProcess] = []
    try:
        procs = spawn_locust(opts, run.url, out, locust_env(opts, out / "history", run.keys))
        record.t0_ns = time.monotonic_ns()
        run.start_faults(scenario.faults, record.t0_ns)
        lines = ProgressLines(console)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
        ) as progress:
            task = progress.add_task(scenario.name, total=opts.seconds)

            def tick(elapsed: float) -> None:
                active = [w.name for w in run.timeline.windows if w.start_ns and not w.end_ns]
                phase = f"during {', '.join(active)}" if active else "load"
                description = f"{scenario.name}: {phase} {live_rps(out)}"
                progress.update(task, completed=min(elapsed, opts.seconds), description=description)
                lines.update(f"{description} ({min(elapsed, opts.seconds):.0f} of {opts.seconds:.0f}s)")

            async with lines:
                if not await wait_for_master(procs[0], opts.seconds, tick):
                    record.aborted = f"Locust did not finish within {opts.seconds:.0f}s and its grace time"
        record.info["locust_exit_code"] = procs[0].proc.returncode if procs[0].proc else None
    finally:
        await run.stop_faults()  # the nemesis first: its rollback needs Toxiproxy still running
        for proc in reversed(procs):
            await asyncio.shield(asyncio.to_thread(proc.stop))


def _judge(
    scenario: Scenario,
    plan: ServicePlan,
    run: RunLifecycle,
    out: Path,
    record: LoadRecord,
    started_at: str,
    duration_s: float,
) -> ScenarioResult:
    history, info = read_history(out / "history", record.t0_ns)
    record.info |= info
    history.windows = run.timeline.windows
    history.label_phases()
    checks = _checks(scenario, plan, history, info)
    if record.capacity_slos is not None:
        last_answer_ns = max((op.end_ns for op in history.ops), default=time.monotonic_ns())  # not teardown time
        record.info["capacity"] = found = capacity(
            history.ops, read_steps(out / "history", last_answer_ns), record.capacity_slos
        )
        checks.append(_capacity_check(found))
    return ScenarioResult(
        scenario,
        0,
        run.backend,
        run.backend_reason if not run.target else f"--target {run.target}",
        started_at,
        plan.env,
        duration_s,
        history,
        run.timeline,
        checks=checks,
        aborted=record.aborted,
        interrupted=record.interrupted,
        error=_locust_error(out, history),
    )


def _checks(scenario: Scenario, plan: ServicePlan, history: History, info: dict[str, Any]) -> list[CheckResult]:
    if not history.ops:
        return [CheckResult("requests", False, "Locust made no requests: see locust-master.log in the report")]
    checks = judge(history, history.windows, scenario.expect, plan.settings)
    if info.get("sampled"):
        note = f" (checked {info['checked']} of {info['requests']} requests: whole clients sampled)"
        for check in checks:
            check.summary += note
    return checks


def _capacity_check(found: dict[str, Any]) -> CheckResult:
    """Passes when every endpoint held its SLO at some step: the knee exists and is reported."""
    knees = found["knees"]
    return CheckResult(
        "capacity",
        all(knees.values()),
        "knee: " + "; ".join(_knee_text(op, k) for op, k in knees.items()),
        details=found,
    )


def _knee_text(op: str, knee: dict[str, Any] | None) -> str:
    if knee is None:
        return f"{op}: no step met the SLO"
    text = f"{op} {knee['ok_per_s']:,.0f} ok/s at {knee['users']} users (p95 {knee['p95_ms']} ms)"
    if not knee["reached"]:
        why = "the load generator stopped scaling first" if knee["generator_bound"] else "raise the steps"
        text += f", SLO never broke: the knee is higher ({why})"
    return text


def _locust_error(out: Path, history: History) -> str | None:
    log = out / "locust-master.log"
    if not history.ops and log.exists() and "Traceback" in log.read_text(errors="replace"):
        return "Locust failed to start: see locust-master.log in the report"
    return None
