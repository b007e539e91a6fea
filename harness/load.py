"""`authchaos load`: Locust as a subprocess, faults on a timeline during the load, SLO gates and the
scenario engine's correctness checks over every request Locust made.

Locust is never imported here (it monkey-patches the process with gevent): the locustfile writes
each request to JSONL with monotonic timestamps, on the same clock as the fault windows.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.checks import CheckContext, CheckResult, run_checks
from harness.faults.model import Fault
from harness.faults.timeline import FaultEvent, run_timeline
from harness.history import History, Op
from harness.infra import Backend, InfraOptions, Infrastructure
from harness.report.run_json import run_dict
from harness.report.writer import write_reports
from harness.runner import ScenarioResult, run_secrets, service_env
from harness.scenario.model import Expectations, Scenario, Slo, Workload
from harness.services.auth_service import AuthServiceProcess
from harness.services.inprocess_service import InProcessService
from harness.services.processes import ManagedProcess, free_port
from harness.suite import EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS

LOCUSTFILE = Path(__file__).resolve().parents[1] / "scenarios" / "load" / "locustfile.py"
PROFILE_SECONDS = {"smoke": 20, "ramp": 60, "soak": 600, "spike": 35}
LOAD_CHECKS = [
    "no_server_errors", "degradation_policy", "no_false_rejections", "revocations_stick", "exposure_window",
    "rotation_once", "reuse_revokes_family", "latency_slo", "recovery", "unknown_outcomes",
]  # fmt: skip
MAX_CHECKED_OPS = 300_000
RECOVERY_MAX_S = 3.0  # after a fault, this long to recover before "healthy" SLOs apply again
_FAULT = TypeAdapter(Fault)


class LoadError(Exception):
    """Bad load options; the message names the option and the fix."""


def parse_fault(spec: str) -> FaultEvent:
    """``KIND[:attr=value,...]@START+DURATION``, e.g. ``blackhole@10+2`` or ``latency:ms=200@5+10``."""
    m = re.fullmatch(r"([a-z_]+)(?::([^@]*))?@([\d.]+)\+([\d.]+)", spec.strip())
    if not m:
        raise LoadError(f"--fault {spec!r}: expected KIND[:attr=value,...]@START+DURATION, e.g. blackhole@10+2")
    kind, attrs, start, length = m.groups()
    fields: dict[str, Any] = {"kind": kind}
    for pair in filter(None, (attrs or "").split(",")):
        key, _, value = pair.partition("=")
        fields[key.strip()] = value.strip()
    try:
        fault = _FAULT.validate_python(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise LoadError(f"--fault {spec!r}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    return FaultEvent(at=float(start), **{"for": float(length)}, fault=fault)


def parse_slo(spec: str) -> Slo:
    """``OP:p95=300[,p99=800,max_error_ratio=0.01][@before|during|after|healthy]``."""
    m = re.fullmatch(r"([a-z_]+):([^@]+)(?:@(before|during|after|healthy|any))?", spec.strip())
    if not m:
        raise LoadError(f"--slo {spec!r}: expected OP:p95=MS[,p99=MS,max_error_ratio=R][@PHASE], e.g. refresh:p95=300")
    op, limits, phase = m.groups()
    fields: dict[str, Any] = {"op": op, "phase": phase or "any"}
    for pair in limits.split(","):
        key, _, value = pair.partition("=")
        key = key.strip()
        fields[f"{key}_ms" if key in ("p50", "p95", "p99") else key] = value
    try:
        return Slo.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise LoadError(f"--slo {spec!r}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


@dataclass
class LoadOptions:
    profile: str | None = "smoke"
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: float | None = None
    faults: list[FaultEvent] = field(default_factory=list)
    workers: int = 0
    service_workers: int = 1
    target: str | None = None
    backend: Backend = "auto"
    slo: list[Slo] = field(default_factory=list)
    max_fail_ratio: float = 0.01
    scale: float = 1.0
    weights: str = "refresh=3,blacklist=1,api=6"
    batch_sizes: str = "1,100,1000,10000"

    @property
    def seconds(self) -> float:
        if self.duration_s is not None:
            return self.duration_s
        return PROFILE_SECONDS[self.profile] * self.scale if self.profile else 30.0


def default_slos(opts: LoadOptions) -> list[Slo]:
    """Outside fault windows requests must not fail; the user's own SLOs come on top."""
    healthy = [Slo(op=op, phase="healthy", max_error_ratio=opts.max_fail_ratio) for op in ("refresh", "me")]
    return healthy + opts.slo


def _locust_env(opts: LoadOptions, history_dir: Path, secrets: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **secrets, "AUTHCHAOS_LOAD_HISTORY_DIR": str(history_dir),
           "AUTHCHAOS_LOAD_WEIGHTS": opts.weights, "AUTHCHAOS_LOAD_BATCH_SIZES": opts.batch_sizes,
           "AUTHCHAOS_LOAD_SCALE": str(opts.scale), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env.pop("AUTHCHAOS_LOAD_PROFILE", None)
    if opts.profile:
        env["AUTHCHAOS_LOAD_PROFILE"] = opts.profile
    return env


def _locust_argv(opts: LoadOptions, url: str, out: Path, master_port: int) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-H", url, "--only-summary",
            "--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html"),
            "--json-file", str(out / "locust"), "--exit-code-on-error", "0", "--stop-timeout", "5",
            "-t", f"{max(1, round(opts.seconds))}s"]  # fmt: skip
    if not opts.profile:
        argv += ["-u", str(opts.users), "-r", str(opts.spawn_rate)]
    if opts.workers:
        argv += ["--master", "--expect-workers", str(opts.workers), "--master-bind-host", "127.0.0.1",
                 "--master-bind-port", str(master_port)]  # fmt: skip
    return argv


def load_history(history_dir: Path, t0_ns: int) -> tuple[History, dict[str, Any]]:
    """Read every worker's JSONL; sample whole clients when there is too much to check."""
    rows: list[dict[str, Any]] = []
    per_worker: dict[str, int] = {}
    for path in sorted(history_dir.glob("history-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut off by a killed worker
            rows.append(row)
            per_worker[str(row.get("worker"))] = per_worker.get(str(row.get("worker")), 0) + 1
    total = len(rows)
    if total > MAX_CHECKED_OPS:
        clients = sorted({r["client"] for r in rows})
        keep = set(random.Random(0).sample(clients, max(1, len(clients) * MAX_CHECKED_OPS // total)))
        rows = [r for r in rows if r["client"] in keep]
    history = History(t0_ns)
    for i, r in enumerate(sorted(rows, key=lambda r: r["start_ns"])):
        op = Op(i, int(r["client"]), r["op"], int(r["start_ns"]), int(r.get("end_ns") or r["start_ns"]))
        for key in ("outcome", "status", "error", "message", "degraded", "retry_after", "token_id", "family",
                    "new_token_id", "revoked_ids", "probe"):  # fmt: skip
            if r.get(key) is not None:
                setattr(op, key, r[key])
        history.ops.append(op)
    info = {"requests": total, "checked": len(rows), "sampled": total > len(rows), "per_worker": per_worker}
    return history, info


def locust_stats(out: Path) -> list[dict[str, Any]]:
    path = out / "locust_stats.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return [
            {"name": r["Name"], "requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
             "rps": float(r["Requests/s"]), "p50_ms": r["50%"], "p95_ms": r["95%"], "p99_ms": r["99%"]}
            for r in csv.DictReader(f)
        ]  # fmt: skip


def _live_rps(out: Path) -> str:
    path = out / "locust_stats_history.csv"
    try:
        last = [r for r in csv.DictReader(path.open()) if r.get("Name") == "Aggregated"][-1]
    except (OSError, IndexError, KeyError):
        return ""
    return f"{float(last['Requests/s']):.0f} req/s, {float(last['Failures/s']):.1f} fail/s, {last['User Count']} users"


async def run_load(opts: LoadOptions, report_root: Path, console: Console) -> tuple[int, Path | None]:
    if opts.target and opts.faults:
        raise LoadError("--fault needs the harness's own Redis and Toxiproxy: drop --target, or drop --fault")
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    name = f"load-{opts.profile or 'custom'}"
    scenario = Scenario(
        name=name, description=f"Locust {opts.profile or 'custom'} load"
        + (f" with {', '.join(ev.fault.describe() for ev in opts.faults)}" if opts.faults else ""),
        workload=Workload(duration_s=max(opts.seconds, max((e.at_s + (e.for_s or 0) for e in opts.faults), default=0))),
        faults=opts.faults,
        expect=Expectations(checks=LOAD_CHECKS, slo=default_slos(opts), recovery_max_s=RECOVERY_MAX_S),
    )  # fmt: skip
    secrets = run_secrets()
    env = service_env(scenario)
    infra = None if opts.target else Infrastructure(InfraOptions(backend=opts.backend))
    result = ScenarioResult(scenario, 0, infra.backend if infra else "external",
                            infra.choice.reason if infra else f"--target {opts.target}", started_at, env)  # fmt: skip
    out = report_root / f".load-{os.getpid()}-{int(time.time())}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "history").mkdir()
    service: Any = None
    timeline: asyncio.Task[None] | None = None
    procs: list[ManagedProcess] = []
    info: dict[str, Any] = {}
    interrupted = False
    started = time.monotonic()
    try:
        if infra is not None:
            await asyncio.to_thread(infra.start)
            full = {**env, **secrets, **infra.service_env}
            if infra.backend == "real":
                service = AuthServiceProcess(infra.service_redis_url, env=full, workers=opts.service_workers)
            else:
                service = InProcessService(infra.service_redis_url, env=full, connection_class=infra.connection_class)
            await asyncio.to_thread(service.start)
        url = opts.target or service.url
        port = free_port()
        lenv = _locust_env(opts, out / "history", secrets)
        master = ManagedProcess("locust-master", _locust_argv(opts, url, out, port), out / "locust-master.log", lenv)
        master.spawn()
        procs.append(master)
        for i in range(opts.workers):
            argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
                    "--master-port", str(port)]  # fmt: skip
            worker = ManagedProcess(f"locust-worker-{i}", argv, out / f"locust-worker-{i}.log", lenv)
            worker.spawn()
            procs.append(worker)
        t0 = time.monotonic_ns()
        timeline = (
            asyncio.create_task(run_timeline(infra.nemesis, opts.faults, t0, result.timeline))
            if infra is not None and infra.nemesis is not None
            else None
        )
        deadline = time.monotonic() + opts.seconds + 90
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                      transient=True) as progress:  # fmt: skip
            task = progress.add_task(name, total=opts.seconds)
            while master.alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                elapsed = (time.monotonic_ns() - t0) / 1e9
                active = [w.name for w in result.timeline.windows if w.start_ns and not w.end_ns]
                phase = f"during {', '.join(active)}" if active else "load"
                progress.update(task, completed=min(elapsed, opts.seconds),
                                description=f"{name}: {phase} {_live_rps(out)}")  # fmt: skip
        if master.alive():
            result.aborted = f"Locust did not finish within {opts.seconds + 90:.0f}s"
        info["locust_exit_code"] = master.proc.returncode if master.proc else None
    except asyncio.CancelledError:
        interrupted = True
        result.aborted = "interrupted (Ctrl-C): faults rolled back, services stopped"
    finally:
        if timeline is not None:  # stop the nemesis first: its rollback needs Toxiproxy still running
            if not timeline.done():
                timeline.cancel()
            await asyncio.gather(timeline, return_exceptions=True)
        for proc in reversed(procs):
            await asyncio.to_thread(proc.stop)
        if service is not None:
            await asyncio.to_thread(service.stop)
        if infra is not None:
            result.timeline.rollback.extend(await asyncio.to_thread(infra.rollback))
            await asyncio.to_thread(infra.close)
        result.duration_s = round(time.monotonic() - started, 3)
    history, hinfo = load_history(out / "history", t0 if "t0" in locals() else time.monotonic_ns())
    history.windows = result.timeline.windows
    history.label_phases()
    result.history = history
    info |= hinfo
    ctx = CheckContext(history.ops, history.windows, scenario.expect, degraded_max_s=30.0)
    result.checks = (
        run_checks(ctx, LOAD_CHECKS)
        if history.ops
        else [CheckResult("requests", False, "Locust made no requests: see locust-master.log in the report")]
    )
    if info.get("sampled"):
        note = f" (checked {info['checked']} of {info['requests']} requests: whole clients sampled)"
        for check in result.checks:
            check.summary += note
    master_log = out / "locust-master.log"
    if not history.ops and master_log.exists() and "Traceback" in master_log.read_text(errors="replace"):
        result.error = "Locust failed to start: see locust-master.log in the report"
    run = run_dict([result], started_at)
    run["scenarios"][0]["load"] = {"locust": locust_stats(out), **info, "profile": opts.profile,
                                   "workers": opts.workers}  # fmt: skip
    report_dir = write_reports(run, report_root)
    for f in out.iterdir():
        f.rename(report_dir / f.name)
    out.rmdir()
    _summary(console, result, info, locust_stats(report_dir), report_dir)
    if interrupted:
        return EXIT_INTERRUPTED, report_dir
    if result.error:
        return EXIT_ERROR, report_dir
    return (EXIT_FAIL if result.verdict != "pass" else EXIT_PASS), report_dir


def _summary(console: Console, result: ScenarioResult, info: dict[str, Any], stats: list[dict[str, Any]],
             report_dir: Path) -> None:  # fmt: skip
    table = Table(title="Locust (per endpoint)")
    for col in ("endpoint", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col)
    for s in stats:
        table.add_row(escape(s["name"]), str(s["requests"]), str(s["failures"]), f"{s['rps']:.1f}", str(s["p50_ms"]),
                      str(s["p95_ms"]), str(s["p99_ms"]))  # fmt: skip
    console.print(table)
    if info.get("per_worker"):
        console.print(
            "requests per Locust process: " + ", ".join(f"pid {k}: {v}" for k, v in info["per_worker"].items())
        )
    checks = Table(title="SLOs and correctness")
    for col in ("", "check", "result"):
        checks.add_column(col)
    for c in result.checks:
        checks.add_row("[green]pass[/]" if c.passed else "[red]FAIL[/]", c.name, escape(c.summary))
    console.print(checks)
    failed = [c for c in result.checks if not c.passed]
    verdict = "[green]PASS[/]" if result.verdict == "pass" else "[red]FAIL[/]"
    missed = "; ".join(c.summary for c in failed if c.name == "latency_slo")
    console.print(f"{verdict} {result.scenario.name}" + (f": missed {escape(missed)}" if missed else ""))
    console.print(f"report: {report_dir}/index.html (Locust's own: locust.html, locust_stats.csv, locust.json)")
