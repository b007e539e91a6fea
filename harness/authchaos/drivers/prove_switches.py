"""`authchaos gate --prove` / `authchaos prove --switches`: the gate's detection power, shown rather than claimed.

Runs the gate suite once on the fixed service and once per known-bug switch (``prove --switches --only``: per
named one). The gate is proven when it passes on the fixed service and every switch is caught by one of the
checks that name its symptom (``sut.bug_switches.SYMPTOMS``): a switch caught only by some other check is
reported, not counted. A switch's run stops at the first scenario that catches it by its symptom, as a mutant's
stops at its first kill; ``exhaustive`` runs every scenario for every switch (the full detection table).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from authchaos.drivers.suite import announce_backend, run_suite
from authchaos.report.run_json import run_dict
from authchaos.report.terminal import columns_table
from authchaos.report.writer import write_reports
from authchaos.run.infrastructure import Backend
from authchaos.run.results import EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, ScenarioResult, relabel
from authchaos.scenario.schema import Scenario
from authchaos.sut.bug_switches import SWITCHES, SYMPTOMS


@dataclass
class ProofRow:
    switch: str  # "" = the fixed service
    results: list[ScenarioResult] = field(default_factory=list)
    expected: tuple[str, ...] = ()  # the checks that name this switch's symptom

    @property
    def failed(self) -> set[str]:
        return {c.name for r in self.results for c in r.failed_checks}

    @property
    def detections(self) -> list[str]:
        return [
            f"{r.scenario.name}: {', '.join(c.name for c in r.failed_checks)}" for r in self.results if r.failed_checks
        ]

    @property
    def errors(self) -> list[str]:
        return [
            f"{r.scenario.name}: {r.error or 'faults skipped'}"
            for r in self.results
            if r.verdict in ("error", "skipped")
        ]

    @property
    def ok(self) -> bool:
        if self.errors:
            return False
        return not self.failed if not self.switch else bool(self.failed & set(self.expected))

    @property
    def verdict(self) -> str:
        if self.errors:
            return "error"
        if not self.switch:
            return "passes" if self.ok else "FAILS on the fixed service"
        if self.ok:
            return "caught"
        return "WRONG SYMPTOM" if self.failed else "MISSED"


def proof_table(rows: list[ProofRow]) -> Table:
    table = columns_table(
        "gate --prove: is every known bug caught by the check that names its symptom?",
        ("bug switch", "expected checks", "verdict", "failed (scenario: checks)"),
    )
    for row in rows:
        style = "green" if row.ok else "red"
        detail = "; ".join(row.errors or row.detections) or "-"
        expected = ", ".join(row.expected) or "(none fail)"
        table.add_row(row.switch or "(none: fixed service)", expected, f"[{style}]{row.verdict}[/]", detail)
    return table


async def _run_switches(
    scenarios: list[Scenario],
    backend: Backend,
    console: Console,
    symptoms: Mapping[str, Sequence[str]],
    seed: int | None = None,
    progress_interval_s: float | None = None,
    exhaustive: bool = False,
) -> tuple[list[ProofRow], bool]:
    rows: list[ProofRow] = []
    saved = os.environ.get("AUTHCHAOS_BUGS")
    try:
        for switch in ["", *symptoms]:  # the fixed service first: the gate must pass on it
            os.environ["AUTHCHAOS_BUGS"] = switch
            expected = set(symptoms.get(switch, ()))

            def caught(result: ScenarioResult, expected: set[str] = expected) -> bool:
                return bool(expected & {c.name for c in result.failed_checks})

            outcome = await run_suite(
                scenarios,
                backend=backend,
                seed=seed,
                report_root=None,
                console=console,
                label=f"{switch or 'fixed'} | ",
                progress_interval_s=progress_interval_s,
                until=None if exhaustive or not switch else caught,
            )
            for result in outcome.results if switch else []:  # a known bug is on: its symptom's red is expected
                result.expected, result.expected_checks = "bug-on", tuple(symptoms.get(switch, ()))
            rows.append(ProofRow(switch, outcome.results, tuple(symptoms.get(switch, ()))))
            if outcome.interrupted:
                return rows, True
    finally:
        if saved is None:
            os.environ.pop("AUTHCHAOS_BUGS", None)
        else:
            os.environ["AUTHCHAOS_BUGS"] = saved
    return rows, False


async def prove(
    scenarios: list[Scenario],
    *,
    backend: Backend,
    report_root: Path,
    console: Console,
    switches: Sequence[str] = SWITCHES,
    symptoms: Mapping[str, Sequence[str]] = SYMPTOMS,
    seed: int | None = None,
    progress_interval_s: float | None = None,
    exhaustive: bool = False,
) -> tuple[int, list[ProofRow]]:
    """The gate on the fixed service, then with each of ``switches`` (default: every known-bug switch of the
    reference service) on; ``symptoms``: each switch's checks (a contract's ``bug_switches`` for another service).
    ``exhaustive``: every switch through every scenario, not only until its symptom shows."""
    backend = announce_backend(backend, console)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    chosen = {s: tuple(symptoms.get(s, ())) for s in switches}
    rows, interrupted = await _run_switches(scenarios, backend, console, chosen, seed, progress_interval_s, exhaustive)
    if interrupted:
        return EXIT_INTERRUPTED, rows
    console.print(proof_table(rows))
    labelled = [r for row in rows for r in relabel(row.results, row.switch or "fixed")]
    proof = [
        {"name": row.switch or "fixed", "verdict": row.verdict, "ok": row.ok, "detail": "; ".join(row.detections)}
        for row in rows
    ]
    report_dir = write_reports(run_dict(labelled, started_at, proof), report_root)
    console.print(f"report: {report_dir}/index.html")
    if any(row.errors for row in rows):
        return EXIT_ERROR, rows
    return (EXIT_PASS if all(row.ok for row in rows) else EXIT_FAIL), rows
