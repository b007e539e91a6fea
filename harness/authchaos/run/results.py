"""What a run produces, read by every driver and by the reports: the result of one scenario, the verdict
over several, and the exit codes (0 pass, 1 a check failed, 2 the harness could not run as designed,
130 interrupted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authchaos.checks.context import CheckResult
from authchaos.record.history import History
from authchaos.record.windows import TimelineResult
from authchaos.scenario.schema import Scenario
from authchaos.workload.legacy_corpus import CorpusResult

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    corpus: list[CorpusResult] = field(default_factory=list)
    aborted: str | None = None
    interrupted: bool = False
    error: str | None = None
    allow_skipped: bool = False
    load: dict[str, Any] | None = None  # a Locust load run's own figures (Locust's stats, capacity, workers)
    expected: str = "pass"  # "bug-on": a known bug is switched on (repro, prove): its red is the right answer
    expected_checks: tuple[str, ...] | None = None  # with "bug-on": the checks whose failure is expected (None: any)
    service: str = ""  # what ran: the contract's service (reference, node-service, ...) or the --target URL

    @property
    def verdict(self) -> str:
        """error (could not run) > skipped (a fault could not be produced: not run as designed) > fail > pass."""
        if self.error or self.fault_errors:
            return "error"
        if self.skipped_faults and not self.allow_skipped:
            return "skipped"
        if self.aborted or self.failed_checks:
            return "fail"
        return "pass"

    @property
    def fault_errors(self) -> list[str]:
        """Faults that failed to start or to stop (a cleanup pass that broke): the run was not as designed."""
        return [f"{w.name}: {w.error}" for w in self.timeline.windows if w.error]

    @property
    def skipped_faults(self) -> list[str]:
        return [f"{w.name}: {w.skipped}" for w in self.timeline.skipped]

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and not c.finding]

    @property
    def findings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.finding]


def relabel(results: list[ScenarioResult], label: str) -> list[ScenarioResult]:
    """The same results named ``scenario+label``, so several runs of one suite can share one report."""
    for r in results:
        r.scenario = r.scenario.model_copy(update={"name": f"{r.scenario.name}+{label}"})
    return results


def overall(results: list[ScenarioResult]) -> str:
    verdicts = {r.verdict for r in results}
    return next((v for v in ("error", "skipped", "fail") if v in verdicts), "pass")
