"""`authchaos prove --mutants`: the gate against every catalogued mutant, and a kill table.

Each mutant runs the gate scenarios in order and stops at the first that fails: one failing check kills
it. A mutant no scenario kills is a hole in the gate (exit 1).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from authchaos.drivers.mutant_catalogue import Applied, Mutant, MutantTarget, apply
from authchaos.drivers.suite import verdict_line
from authchaos.report.terminal import columns_table
from authchaos.report.writer import publish
from authchaos.run.experiment import run_scenario
from authchaos.run.results import EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, ScenarioResult, relabel
from authchaos.scenario.schema import Scenario


@dataclass
class Kill:
    mutant: Mutant
    results: list[ScenarioResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    trial: int = 0  # the trial (another seed each) that killed it; 1 = the gate's own seeds

    def _done(self) -> bool:
        last = self.results[-1] if self.results else None
        return last is not None and bool(last.failed_checks or last.verdict in ("error", "skipped") or last.interrupted)

    @property
    def killer(self) -> ScenarioResult | None:
        return next((r for r in self.results if r.failed_checks), None)

    @property
    def verdict(self) -> str:
        if self.error or any(r.verdict in ("error", "skipped") for r in self.results):
            return "error"
        return "killed" if self.killer else "SURVIVED"


async def _trial(
    kill: Kill, scenarios: list[Scenario], applied: Applied, trial: int, console: Console, base: int | None
) -> None:
    """The gate's scenarios in order until one kills; trial n shifts every seed (``base``, or the scenario's
    own) by n - 1."""
    for scenario in scenarios:
        mutated = scenario.with_contract(applied.contract)
        seed = (scenario.seed if base is None else base) + trial - 1
        result = await run_scenario(mutated, backend="real", code_dir=applied.code_dir, seed=seed)
        console.print(f"{kill.mutant.id} #{trial} | " + verdict_line(result))
        kill.results.append(result)
        if kill._done():
            kill.trial = trial
            return


async def _try(
    mutant: Mutant,
    scenarios: list[Scenario],
    console: Console,
    trials: int,
    target: MutantTarget | None,
    base: int | None = None,
    witness_only: bool = False,
) -> Kill:
    kill = Kill(mutant)
    started = time.monotonic()
    scenarios = sorted(scenarios, key=lambda s: s.name != mutant.witness)  # its class's witness first (stable)
    if witness_only and scenarios and scenarios[0].name == mutant.witness:
        scenarios = scenarios[:1]
    with tempfile.TemporaryDirectory(prefix=f"authchaos-mutant-{mutant.id}-") as tmp:
        try:
            applied = apply(mutant, Path(tmp), target)
        except Exception as exc:  # a catalogue that no longer applies is an error, never a kill
            kill.error = str(exc)
            return kill
        for trial in range(1, trials + 1):
            await _trial(kill, scenarios, applied, trial, console, base)
            if kill._done():
                break
    kill.seconds = round(time.monotonic() - started, 1)
    return kill


def kill_table(kills: list[Kill]) -> Table:
    table = columns_table(
        "prove --mutants: does the gate kill every catalogued bug?",
        ("mutant", "invariant", "verdict", "killed by (scenario: checks)", "trial", "time"),
    )
    for k in kills:
        killer = k.killer
        by = (
            f"{killer.scenario.name}: {', '.join(c.name for c in killer.failed_checks)}" if killer else (k.error or "-")
        )
        style = "green" if k.verdict == "killed" else "red"
        trial = str(k.trial) if k.killer else "-"
        table.add_row(k.mutant.id, k.mutant.invariant, f"[{style}]{k.verdict}[/]", by, trial, f"{k.seconds:.0f}s")
    return table


def _likeliest_killers_first(scenarios: list[Scenario]) -> list[Scenario]:
    """Several service workers first (no process memory hides a lost write; among them the one with faults, which
    kills most), then quick fault-free ones: most mutants die early, and a kill ends the mutant's run."""

    def rank(s: Scenario) -> tuple[int, bool, float, str]:
        several = s.service.workers > 1
        return (-s.service.workers, not s.faults if several else bool(s.faults), s.workload.duration_s, s.name)

    return sorted(scenarios, key=rank)


def _write(kills: list[Kill], started_at: str, report_root: Path) -> Path:
    results = [r for k in kills for r in relabel(k.results, k.mutant.id)]
    table = [
        {
            "mutant": k.mutant.id,
            "invariant": k.mutant.invariant,
            "file": k.mutant.file,
            "verdict": k.verdict,
            "killed_by": {"scenario": k.killer.scenario.name, "checks": [c.name for c in k.killer.failed_checks]}
            if k.killer
            else None,
            "trial": k.trial or None,
            "error": k.error,
            "seconds": k.seconds,
        }
        for k in kills
    ]
    for r in results:
        r.expected = "bug-on"  # a mutant is a bug: any check that fails on it is doing its job
    proof = [
        {"name": k.mutant.id, "verdict": k.verdict, "ok": k.verdict == "killed", "detail": _killed_by(k)} for k in kills
    ]
    return publish(results, started_at, report_root, extra={"mutants.json": table}, proof=proof)


def _killed_by(kill: Kill) -> str:
    killer = kill.killer
    if killer is None:
        return kill.error or "no scenario failed a check"
    return f"{killer.scenario.name}: {', '.join(c.name for c in killer.failed_checks)}"


async def prove_mutants(
    mutants: list[Mutant],
    scenarios: list[Scenario],
    console: Console,
    report_root: Path,
    trials: int = 2,
    target: MutantTarget | None = None,
    seed: int | None = None,
    *,
    witness_only: bool = False,
) -> tuple[int, list[Kill]]:
    """Each mutant gets up to ``trials`` runs of the gate (another seed each): a bug the gate finds on any trial is
    found, and the table says on which, so a kill that needs luck is visible. ``target``: whose code the mutants
    change (default: the reference service's). ``witness_only``: a mutant whose witness is among ``scenarios``
    runs that one scenario alone (the quick proof; the whole gate stays the nightly one)."""
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    ordered = _likeliest_killers_first(scenarios)
    kills: list[Kill] = []
    for i, mutant in enumerate(mutants, 1):
        so_far = sum(k.verdict == "killed" for k in kills)
        console.print(f"mutant {i}/{len(mutants)}: {mutant.id} ({so_far} of {i - 1} killed so far)", highlight=False)
        kills.append(await _try(mutant, ordered, console, trials, target, seed, witness_only))
        if any(r.interrupted for r in kills[-1].results):
            return EXIT_INTERRUPTED, kills
    console.print(kill_table(kills))
    killed = sum(k.verdict == "killed" for k in kills)
    console.print(f"{killed} of {len(kills)} mutants killed in {sum(k.seconds for k in kills):.0f}s")
    console.print(f"report: {_write(kills, started_at, report_root)}/mutants.json (and index.html)")
    if any(k.verdict == "error" for k in kills):
        return EXIT_ERROR, kills
    return (EXIT_PASS if killed == len(kills) else EXIT_FAIL), kills
