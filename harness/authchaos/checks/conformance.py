"""Does the history say anything at all? A run against the wrong paths, users or shapes answers 404s and
401s that every other check could read as "nothing wrong": this check fails such a run by name."""

from __future__ import annotations

from collections import Counter

from authchaos.checks.context import MAX_EVIDENCE, CheckContext, CheckResult
from authchaos.checks.registry import checker
from authchaos.record.history import Op

NEVER_OK_MIN = 3  # an operation tried this often without one success never worked


def must_fail(ctx: CheckContext) -> set[str]:
    """Operations the scenario says may never succeed: a ``status`` rule for every phase that allows no 2xx (a
    write where no replica can confirm it, say). Their never succeeding is the point, not a wrong contract."""
    return {r.op for r in ctx.expect.status if r.phase == "any" and not any(200 <= s < 300 for s in r.allowed)}


def _never_succeeded(ops: list[Op], exempt: set[str]) -> dict[str, int]:
    """Operations (probes aside: they must be rejected) that were answered at least NEVER_OK_MIN times, never 2xx."""
    tried: Counter[str] = Counter()
    succeeded: set[str] = set()
    for op in ops:
        if op.probe is None and op.status is not None and op.op not in exempt:
            tried[op.op] += 1
            if op.outcome == "ok":
                succeeded.add(op.op)
    return {name: n for name, n in tried.items() if name not in succeeded and n >= NEVER_OK_MIN}


@checker()
def contract_conformance(ctx: CheckContext) -> CheckResult:
    """Every answer matched an outcome the service's contract declares, and every operation used succeeded."""
    answered = [op for op in ctx.ops if op.status is not None]
    if not answered:
        return CheckResult("contract_conformance", False, "no operation got an answer: nothing the service said")
    undeclared = [op for op in answered if op.undeclared]
    never = _never_succeeded(ctx.ops, must_fail(ctx))
    if not undeclared and not never:
        return CheckResult(
            "contract_conformance", True, f"all {len(answered)} answers matched the contract's declared outcomes"
        )
    why = Counter(f"{op.op}: {op.undeclared}" for op in undeclared)
    parts = [f"{n}x {what}" for what, n in why.most_common(5)]
    parts += [f"{name} never succeeded ({n} answers)" for name, n in sorted(never.items())]
    evidence = [op.id for op in undeclared[:MAX_EVIDENCE]]
    evidence += [op.id for op in ctx.ops if op.op in never][: MAX_EVIDENCE - len(evidence)]
    details = {"undeclared": dict(why), "never_succeeded": never}
    return CheckResult("contract_conformance", False, "; ".join(parts), evidence, details)
