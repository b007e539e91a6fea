"""Checkers over a recorded history; each is a pure function ``(CheckContext) -> CheckResult``.

Importing this package registers every checker (see ``registry``); the import order below,
then each module's order, is the order checks run and are reported in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.checks import availability, experiment, latency, tokens  # noqa: F401  (registers, in this order)
from harness.checks.base import CheckContext, CheckResult
from harness.checks.registry import CHECKERS, Checker, checker
from harness.faults.model import FaultWindow
from harness.history import History

if TYPE_CHECKING:
    from harness.lifecycle import EffectiveSettings
    from harness.scenario.model import Expectations

def check_names(*, load_only: bool = False) -> tuple[str, ...]:
    """Every registered checker, in registration order."""
    return tuple(n for n, c in CHECKERS.items() if c.load or not load_only)


def run_checks(ctx: CheckContext, names: list[str]) -> list[CheckResult]:
    return [CHECKERS[name].fn(ctx) for name in names]


def judge(
    history: History,
    windows: list[FaultWindow],
    expect: Expectations,
    settings: EffectiveSettings,
    steady: dict[str, Any] | None = None,
    corpus: list[Any] | None = None,
    *,
    names: list[str] | None = None,
) -> list[CheckResult]:
    """The one way every driver judges a history: its checks, then known findings marked as such."""
    ctx = CheckContext(
        history.ops, windows, expect, reuse_grace_s=settings.reuse_grace_s, degraded_max_s=settings.degraded_max_s,
        steady=steady or {}, corpus=corpus or [],
    )  # fmt: skip
    results = run_checks(ctx, names if names is not None else expect.checks)
    for result in results:
        result.finding = not result.passed and result.name in expect.known_findings
    return results


__all__ = ["CHECKERS", "CheckContext", "CheckResult", "Checker", "check_names", "checker", "judge", "run_checks"]
