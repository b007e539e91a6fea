"""Latency SLOs per operation and phase (nearest-rank percentiles over answered requests)."""

from __future__ import annotations

import math

from authchaos.checks.context import CheckContext, CheckResult
from authchaos.checks.registry import checker
from authchaos.record.history import Op


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _in_phase(ctx: CheckContext, op: Op, phase: str) -> bool:
    if phase == "healthy":
        return ctx.healthy(op)
    return phase == "any" or op.phase == phase or (phase == "during" and op.phase.startswith("during:"))


@checker()
def latency_slo(ctx: CheckContext) -> CheckResult:
    rows = []
    misses: list[str] = []
    evidence: list[int] = []
    for slo in ctx.expect.slo:
        ops = [o for o in ctx.ops if o.op == slo.op and _in_phase(ctx, o, slo.phase) and o.probe is None]
        answered = [o for o in ops if o.status is not None or o.error == "client_timeout"]
        if not answered:
            misses.append(f"no {slo.op} operations {slo.phase}: the SLO cannot be judged")
            continue
        lat = [o.latency_ms for o in answered]
        row = {"op": slo.op, "phase": slo.phase, "count": len(answered)}
        for q, limit in ((50, slo.p50_ms), (95, slo.p95_ms), (99, slo.p99_ms)):
            value = percentile(lat, q)
            row[f"p{q}_ms"] = round(value, 2)
            if limit is not None and value > limit:
                misses.append(f"{slo.op} {slo.phase} p{q} {value:.1f}ms > {limit:g}ms")
                evidence.extend(o.id for o in sorted(answered, key=lambda o: -o.latency_ms)[:5])
        errors = sum(o.outcome != "ok" for o in ops) / len(ops)
        shed = sum(o.shed for o in ops) / len(ops)
        row["error_ratio"], row["shed_ratio"] = round(errors, 4), round(shed, 4)
        if slo.max_error_ratio is not None and errors > slo.max_error_ratio:
            why = f" ({shed:.1%} shed as overloaded)" if shed else ""
            misses.append(f"{slo.op} {slo.phase} error ratio {errors:.1%} > {slo.max_error_ratio:.1%}{why}")
            evidence.extend(o.id for o in ops if o.outcome != "ok")
        rows.append(row)
    if not ctx.expect.slo:
        return CheckResult("latency_slo", True, "no latency SLOs declared", details={"slo": []}, applicable=False)
    if misses:
        return CheckResult("latency_slo", False, "; ".join(misses), evidence[:25], {"slo": rows})
    return CheckResult("latency_slo", True, f"{len(rows)} SLOs met", details={"slo": rows})
