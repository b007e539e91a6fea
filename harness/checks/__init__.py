"""Checkers over a recorded history; each is a pure function ``(CheckContext) -> CheckResult``.

Importing this package registers every checker (see ``registry``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.checks import availability, experiment, latency, replication, tokens
from harness.checks.base import CheckContext, CheckResult
from harness.checks.registry import CHECKERS, Checker, checker
from harness.faults.model import FaultWindow
from harness.history import History

if TYPE_CHECKING:
    from harness.lifecycle import EffectiveSettings
    from harness.scenario.model import Expectations


# Report order: the experiment as a whole first, then availability, token safety, replication losses, latency.
MODULES = tuple(m.__name__ for m in (experiment, availability, tokens, replication, latency))


def check_names(*, load_only: bool = False) -> tuple[str, ...]:
    """Every registered checker, by module (``MODULES``, others last), then in the order written."""
    ranked = sorted(
        enumerate(CHECKERS.values()),
        key=lambda ic: (MODULES.index(ic[1].fn.__module__) if ic[1].fn.__module__ in MODULES else len(MODULES), ic[0]),
    )
    return tuple(c.name for _, c in ranked if c.load or not load_only)


def run_checks(ctx: CheckContext, names: list[str]) -> list[CheckResult]:
    return [CHECKERS[name](ctx) for name in names]


def judge(
    history: History,
    windows: list[FaultWindow],
    expect: Expectations,
    settings: EffectiveSettings,
    steady: dict[str, Any] | None = None,
    corpus: list[Any] | None = None,
    *,
    names: list[str] | None = None,
    min_ops: int = 0,
) -> list[CheckResult]:
    """The one way every driver judges a history: its checks, then known findings marked as such."""
    ctx = CheckContext(
        history.ops, windows, expect, reuse_grace_s=settings.reuse_grace_s, degraded_max_s=settings.degraded_max_s,
        steady=steady or {}, corpus=corpus or [], min_ops=min_ops, access_ttl_s=settings.access_ttl_s,
        refresh_ttl_s=settings.refresh_ttl_s,
    )  # fmt: skip
    results = run_checks(ctx, names if names is not None else expect.checks)
    for result in results:
        result.finding = not result.passed and result.name in expect.known_findings
    return results


__all__ = ["CHECKERS", "CheckContext", "CheckResult", "Checker", "check_names", "checker", "judge", "run_checks"]
