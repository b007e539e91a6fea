"""Runs a list of scenarios with a live view, writes the reports, and maps the outcome to an exit code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from authchaos.report.terminal import ProgressLines, columns_table
from authchaos.report.writer import publish, where
from authchaos.run.experiment import run_scenario
from authchaos.run.infrastructure import Backend, choose_backend
from authchaos.run.results import EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, ScenarioResult, overall
from authchaos.scenario.schema import Scenario

STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skipped": "yellow"}


@dataclass
class SuiteOutcome:
    results: list[ScenarioResult]
    report_dir: Path | None
    interrupted: bool

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return {"pass": EXIT_PASS, "fail": EXIT_FAIL}.get(overall(self.results), EXIT_ERROR)  # skipped: 2


def _judged(r: ScenarioResult) -> str:
    failed = ", ".join(c.name for c in r.failed_checks)
    passed = sum(c.passed and c.applicable for c in r.checks)
    na = sum(not c.applicable for c in r.checks)
    return f"failed: {failed}" if failed else f"{passed} checks passed" + (f", {na} not applicable" if na else "")


def verdict_line(r: ScenarioResult) -> str:
    why = r.error or "; ".join(r.fault_errors) or r.aborted or _judged(r)
    if r.skipped_faults:
        why = f"faults skipped ({'; '.join(r.skipped_faults)}); " + why
        if r.allow_skipped:
            why += " [yellow](--allow-skipped)[/]"
    if r.findings:
        why += f" [yellow](findings: {', '.join(c.name for c in r.findings)})[/]"
    return f"[{STYLE[r.verdict]}]{r.verdict.upper():7}[/] {r.scenario.name} ({r.backend}, {r.duration_s:.1f}s): {why}"


def summary_table(results: list[ScenarioResult]) -> Table:
    table = columns_table(
        "authchaos summary", ("scenario", "verdict", "backend", "ops", "failed checks", "known findings", "time")
    )
    for r in results:
        ops = len(r.history.ops) if r.history else 0
        failed = ", ".join(c.name for c in r.failed_checks) or ("-" if not r.error else r.error[:60])
        if r.skipped_faults and not r.allow_skipped:
            failed = "faults skipped: " + ", ".join(w.split(":")[0] for w in r.skipped_faults)
        findings = ", ".join(c.name for c in r.findings) or "-"
        table.add_row(
            r.scenario.name,
            f"[{STYLE[r.verdict]}]{r.verdict}[/]",
            r.backend,
            str(ops),
            failed,
            findings,
            f"{r.duration_s:.1f}s",
        )
    return table


def announce_backend(backend: Backend, console: Console, target: str | None = None) -> Backend:
    if target:
        console.print(f"target: {target} (external service: nothing started here)")
        return backend
    choice = choose_backend(backend)
    if choice.backend == "embedded":
        console.print(f"[yellow]backend: embedded[/] (fakeredis in-process, emulated faults) — {choice.reason}")
    else:
        console.print(f"backend: real — {choice.reason}")
    return "real" if choice.backend == "real" else "embedded"


async def run_suite(
    scenarios: list[Scenario],
    *,
    backend: Backend,
    seed: int | None,
    report_root: Path | None,
    console: Console,
    label: str = "",
    target: str | None = None,
    allow_skipped: bool = False,
    progress_interval_s: float | None = None,
    until: Callable[[ScenarioResult], bool] | None = None,
) -> SuiteOutcome:
    """Run ``scenarios`` in order on a ``backend`` already announced (announce_backend); ``report_root`` None:
    keep the results, write nothing. Without a terminal, a progress line every ``progress_interval_s`` (default
    5 s, AUTHCHAOS_PROGRESS_INTERVAL_S; 0: none). ``until``: stop after the first result it holds true for (a
    proof that has what it came for)."""
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results: list[ScenarioResult] = []
    interrupted = False
    lines = ProgressLines(console, progress_interval_s)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        for i, scenario in enumerate(scenarios, 1):
            task = progress.add_task(f"{label}{scenario.name}", total=1.0)

            def update(phase: str, frac: float, task: TaskID = task, name: str = scenario.name, i: int = i) -> None:
                progress.update(task, completed=frac, description=f"{name}: {phase}")
                lines.update(f"{label}{name} ({i}/{len(scenarios)}): {phase}, {frac:.0%}")

            async with lines:
                result = await run_scenario(
                    scenario, backend=backend, seed=seed, target=target, on_progress=update, allow_skipped=allow_skipped
                )
            progress.remove_task(task)
            results.append(result)
            console.print(label + verdict_line(result))
            if result.interrupted:
                interrupted = True
                break
            if until is not None and until(result):
                break
    if report_root is None:
        return SuiteOutcome(results, None, interrupted)
    report_dir = publish(results, started_at, report_root) if results else None
    console.print(summary_table(results))
    if report_dir:
        console.print(where(report_dir))
    return SuiteOutcome(results, report_dir, interrupted)
