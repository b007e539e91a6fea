"""Checkers over what the experiment recorded besides the workload: the steady-state probes and the corpus."""

from __future__ import annotations

from authchaos.checks.context import CheckContext, CheckResult
from authchaos.checks.registry import checker


@checker(load=False)
def steady_state(ctx: CheckContext) -> CheckResult:
    """The steady-state hypothesis held before the faults and again after them."""
    before, after = ctx.steady.get("before"), ctx.steady.get("after")
    failed = [when for when, rep in (("before", before), ("after", after)) if rep is None or not rep["passed"]]
    if not failed:
        return CheckResult("steady_state", True, "hypothesis held before and after the faults", details=ctx.steady)
    return CheckResult(
        "steady_state", False, f"hypothesis failed {' and '.join(failed)} the faults", details=ctx.steady
    )


@checker(load=False)
def legacy_corpus(ctx: CheckContext) -> CheckResult:
    """Every legacy token shape got exactly the outcomes the corpus expects."""
    if not ctx.corpus:
        return CheckResult("legacy_corpus", True, "this scenario replays no legacy corpus", applicable=False)
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


@checker(load=False)
def enough_history(ctx: CheckContext) -> CheckResult:
    """The workload recorded enough to judge: at least one operation per client."""
    if len(ctx.ops) >= ctx.min_ops:
        return CheckResult("enough_history", True, f"{len(ctx.ops)} operations recorded (at least {ctx.min_ops})")
    why = f"only {len(ctx.ops)} operations for {ctx.min_ops} clients: too little history to judge"
    return CheckResult("enough_history", False, why)
