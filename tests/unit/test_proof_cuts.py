"""The proofs' short cuts: a suite stops at the first result its caller holds enough, and a witness-only mutant
proof runs the mutant's witness alone. Scenario runs are stood in for: only the order and the cut are judged."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from authchaos.checks import CheckResult
from authchaos.drivers import prove_mutants, suite
from authchaos.drivers.mutant_catalogue import Applied, Mutant
from authchaos.run.results import ScenarioResult
from authchaos.scenario.schema import Scenario

QUIET = Console(file=io.StringIO(), width=120)


def scenarios(*names: str) -> list[Scenario]:
    return [Scenario.model_validate({"name": n}) for n in names]


def fake_runs(monkeypatch: pytest.MonkeyPatch, module: Any, failing: set[str]) -> list[str]:
    """Replace ``module.run_scenario``: record each scenario run, fail one check of those in ``failing``."""
    ran: list[str] = []

    async def run_scenario(scenario: Scenario, **_: Any) -> ScenarioResult:
        ran.append(scenario.name)
        checks = [CheckResult("no_server_errors", scenario.name not in failing, "stand-in")]
        return ScenarioResult(scenario, 1, "embedded", "test", "now", {}, checks=checks)

    monkeypatch.setattr(module, "run_scenario", run_scenario)
    return ran


def test_a_suite_with_until_stops_after_the_first_result_it_holds_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = fake_runs(monkeypatch, suite, failing={"b"})

    def go(until: Any) -> suite.SuiteOutcome:
        return asyncio.run(
            suite.run_suite(
                scenarios("a", "b", "c"), backend="embedded", seed=None, report_root=None, console=QUIET, until=until
            )
        )

    outcome = go(lambda r: bool(r.failed_checks))
    assert ran == ["a", "b"] and [r.scenario.name for r in outcome.results] == ["a", "b"]
    ran.clear()
    go(None)
    assert ran == ["a", "b", "c"]


MUTANT = Mutant.model_validate(
    {
        "id": "m",
        "invariant": "i",
        "witness": "w",
        "file": "token_store.py",
        "find": "x",
        "replace": "y",
        "why": "a stand-in",
    }
)


@pytest.mark.parametrize(
    ("witness_only", "failing", "expected"),
    [
        (True, set(), ["w"]),  # the witness alone: it survives there, and nothing else runs
        (False, {"b"}, ["w", "a", "b"]),  # the witness first, then the gate in order until one kills
        (False, {"w"}, ["w"]),
    ],
)
def test_a_mutant_runs_its_witness_first_and_alone_when_witness_only(
    monkeypatch: pytest.MonkeyPatch, witness_only: bool, failing: set[str], expected: list[str]
) -> None:
    ran = fake_runs(monkeypatch, prove_mutants, failing)
    monkeypatch.setattr(prove_mutants, "apply", lambda mutant, tmp, target: Applied(code_dir=Path(tmp)))
    kill = asyncio.run(
        prove_mutants._try(MUTANT, scenarios("a", "w", "b", "c"), QUIET, 1, None, witness_only=witness_only)
    )
    assert ran == expected
    assert kill.verdict == ("killed" if failing else "SURVIVED")


def test_witness_only_with_a_witness_outside_the_selection_runs_the_whole_selection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran = fake_runs(monkeypatch, prove_mutants, failing=set())
    monkeypatch.setattr(prove_mutants, "apply", lambda mutant, tmp, target: Applied(code_dir=Path(tmp)))
    asyncio.run(prove_mutants._try(MUTANT, scenarios("a", "b"), QUIET, 1, None, witness_only=True))
    assert ran == ["a", "b"]
