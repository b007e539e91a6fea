"""`authchaos gate --prove`: the gate's detection power, shown rather than claimed.

Runs the gate suite once on the fixed service and once per known-bug switch.
The gate is proven when it passes on the fixed service and fails on every switch,
each time with a failed check that names the bug's symptom.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.experiment import ScenarioResult
from harness.infra import Backend
from harness.report.run_json import run_dict
from harness.report.writer import write_reports
from harness.scenario.model import Scenario
from harness.services.reference import SWITCHES
from harness.suite import EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, announce_backend, run_suite


@dataclass
class ProofRow:
    switch: str  # "" = the fixed service
    results: list[ScenarioResult] = field(default_factory=list)

    @property
    def detections(self) -> list[str]:
        return [
            f"{r.scenario.name}: {', '.join(c.name for c in r.failed_checks)}" for r in self.results if r.failed_checks
        ]

    @property
    def errors(self) -> list[str]:
        return [f"{r.scenario.name}: {r.error}" for r in self.results if r.error]

    @property
    def ok(self) -> bool:
        if self.errors:
            return False
        return not self.detections if not self.switch else bool(self.detections)

    @property
    def verdict(self) -> str:
        if self.errors:
            return "error"
        if not self.switch:
            return "passes" if self.ok else "FAILS on the fixed service"
        return "caught" if self.ok else "MISSED"


async def prove(
    scenarios: list[Scenario], *, backend: Backend, report_root: Path, console: Console
) -> tuple[int, list[ProofRow]]:
    backend = announce_backend(backend, console)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rows: list[ProofRow] = []
    saved = os.environ.get("AUTHCHAOS_BUGS")
    try:
        for switch in ["", *SWITCHES]:
            os.environ["AUTHCHAOS_BUGS"] = switch
            outcome = await run_suite(
                scenarios, backend=backend, seed=None, report_root=None, console=console,
                label=f"{switch or 'fixed'} | ", announce=False,
            )  # fmt: skip
            rows.append(ProofRow(switch, outcome.results))
            if outcome.interrupted:
                return EXIT_INTERRUPTED, rows
    finally:
        if saved is None:
            os.environ.pop("AUTHCHAOS_BUGS", None)
        else:
            os.environ["AUTHCHAOS_BUGS"] = saved
    table = Table(title="gate --prove: does the gate catch every known bug?")
    for col in ("bug switch", "verdict", "detected by (scenario: failed checks)"):
        table.add_column(col)
    for row in rows:
        style = "green" if row.ok else "red"
        detail = "; ".join(row.errors or row.detections) or "-"
        table.add_row(row.switch or "(none: fixed service)", f"[{style}]{row.verdict}[/]", detail)
    console.print(table)
    labelled = []
    for row in rows:
        for r in row.results:
            r.scenario = r.scenario.model_copy(update={"name": f"{r.scenario.name}+{row.switch or 'fixed'}"})
            labelled.append(r)
    report_dir = write_reports(run_dict(labelled, started_at), report_root)
    console.print(f"report: {report_dir}/index.html")
    if any(row.errors for row in rows):
        return EXIT_ERROR, rows
    return (EXIT_PASS if all(row.ok for row in rows) else EXIT_FAIL), rows
