"""`authchaos repro NAME`: reproduce a known regression on demand, buggy and fixed side by side."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from authchaos.drivers.suite import announce_backend, run_suite
from authchaos.report.terminal import columns_table
from authchaos.report.writer import publish, where
from authchaos.run.infrastructure import Backend
from authchaos.run.results import EXIT_FAIL, EXIT_PASS, ScenarioResult
from authchaos.scenario.catalog import Catalog


@dataclass(frozen=True)
class Repro:
    scenario: str
    bug: str
    symptom: str  # the error message that proves it


REPROS = {
    "invalid-token-type": Repro(
        "regression-invalid-token-type", "legacy_fallback_tokens", "Invalid token type for refresh"
    ),
}


def _symptoms(result: ScenarioResult, symptom: str) -> int:
    ops = result.history.ops if result.history else []
    return sum(1 for op in ops if op.message == symptom)


async def repro(
    name: str,
    catalog: Catalog,
    *,
    backend: Backend,
    report_root: Path,
    console: Console,
    contract: Path | None = None,
    seed: int | None = None,
) -> int:
    spec = REPROS[name]
    base = catalog.select([spec.scenario])[0].with_contract(contract)
    backend = announce_backend(backend, console)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    buggy = base.model_copy(
        update={"name": f"{base.name}+{spec.bug}", "service": base.service.model_copy(update={"bugs": [spec.bug]})}
    )
    fixed = base.model_copy(update={"name": f"{base.name}+fixed"})
    outcome = await run_suite([buggy, fixed], backend=backend, seed=seed, report_root=None, console=console)
    results = outcome.results
    if results:
        results[0].expected = "bug-on"  # red is what reproduces it: junit marks its failures expected
    table = columns_table(
        f"repro {name}: {spec.symptom!r}", ("service", "verdict", f"responses saying {spec.symptom!r}", "failed checks")
    )
    for label, r in zip((f"buggy ({spec.bug})", "fixed"), results, strict=False):
        colour = "red" if r.verdict != "pass" else "green"
        shown = "red" if r.verdict != "pass" else "green"
        failed = ", ".join(c.name for c in r.failed_checks) or "-"
        table.add_row(label, f"[{colour}]{shown}[/]", str(_symptoms(r, spec.symptom)), failed)
    console.print(table)
    reproduced = (
        len(results) == 2
        and results[0].verdict == "fail"
        and _symptoms(results[0], spec.symptom) > 0
        and results[1].verdict == "pass"
    )
    seen = _symptoms(results[0], spec.symptom) if results else 0
    row = {"name": name, "verdict": "reproduced" if reproduced else "NOT reproduced", "ok": reproduced}
    row["detail"] = f"{seen} answers said {spec.symptom!r} with {spec.bug} on; fixed: {results[-1].verdict}"
    console.print(where(publish(results, started, report_root, proof=[row])))
    console.print("reproduced: red with the bug, green without" if reproduced else "[red]NOT reproduced[/]")
    return EXIT_PASS if reproduced else EXIT_FAIL
