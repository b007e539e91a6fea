"""Checkers over a recorded history; each is a pure function ``(CheckContext) -> CheckResult``."""

from __future__ import annotations

from collections.abc import Callable

from harness.checks.availability import (
    clients_recover,
    degradation_policy,
    no_server_errors,
    recovery,
    unknown_outcomes,
)
from harness.checks.base import CheckContext, CheckResult
from harness.checks.latency import latency_slo
from harness.checks.tokens import (
    exposure_window,
    no_false_rejections,
    reuse_revokes_family,
    revocations_stick,
    rotation_once,
)


def steady_state(ctx: CheckContext) -> CheckResult:
    """The steady-state hypothesis held before the faults and again after them."""
    before, after = ctx.steady.get("before"), ctx.steady.get("after")
    failed = [when for when, rep in (("before", before), ("after", after)) if rep is None or not rep["passed"]]
    if not failed:
        return CheckResult("steady_state", True, "hypothesis held before and after the faults", details=ctx.steady)
    return CheckResult(
        "steady_state", False, f"hypothesis failed {' and '.join(failed)} the faults", details=ctx.steady
    )


def legacy_corpus(ctx: CheckContext) -> CheckResult:
    """Every legacy token shape got exactly the outcomes the corpus expects."""
    if not ctx.corpus:
        return CheckResult("legacy_corpus", True, "this scenario replays no legacy corpus")
    wrong = [o for o in ctx.corpus if not o.passed]
    rows = [{"id": o.entry.id, "shape": o.entry.shape, "expect": o.entry.expect, "got": o.got} for o in ctx.corpus]
    if not wrong:
        return CheckResult(
            "legacy_corpus", True, f"all {len(rows)} token shapes behaved as expected", details={"corpus": rows}
        )
    shapes = ", ".join(f"{o.entry.shape} (got {[g['status'] for g in o.got]})" for o in wrong)
    return CheckResult(
        "legacy_corpus", False, f"{len(wrong)} token shapes misbehaved: {shapes}", details={"corpus": rows}
    )


CHECKERS: dict[str, Callable[[CheckContext], CheckResult]] = {
    "steady_state": steady_state,
    "no_server_errors": no_server_errors,
    "degradation_policy": degradation_policy,
    "no_false_rejections": no_false_rejections,
    "revocations_stick": revocations_stick,
    "exposure_window": exposure_window,
    "rotation_once": rotation_once,
    "reuse_revokes_family": reuse_revokes_family,
    "latency_slo": latency_slo,
    "recovery": recovery,
    "clients_recover": clients_recover,
    "unknown_outcomes": unknown_outcomes,
    "legacy_corpus": legacy_corpus,
}


def run_checks(ctx: CheckContext, names: list[str]) -> list[CheckResult]:
    return [CHECKERS[name](ctx) for name in names]


__all__ = ["CHECKERS", "CheckContext", "CheckResult", "run_checks"]
