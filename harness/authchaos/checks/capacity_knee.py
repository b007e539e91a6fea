"""The capacity search's verdict: per step and endpoint, what was served within the SLO, and the knee.

The knee of an endpoint is the step with the highest throughput of good answers while that endpoint met
its SLO (p95 and error ratio, sheds counting as errors). Each step is judged on its settled part: the first
``SETTLE_S`` after users were added are left out, so spawning does not count against the step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from authchaos.checks.expectations import Slo
from authchaos.checks.latency import percentile
from authchaos.record.history import Op
from authchaos.record.protocol import CAPACITY_STEPS_FILE

SETTLE_S = 2.0
PLATEAU = 1.1  # under 10 % more good answers for 30 % more users: throughput has stopped growing
ENDPOINTS = ("me", "refresh")
DEFAULT_SLOS = {
    "me": Slo(op="me", p95_ms=100, max_error_ratio=0.01),
    "refresh": Slo(op="refresh", p95_ms=200, max_error_ratio=0.01),
}


@dataclass(frozen=True)
class Step:
    users: int
    start_ns: int
    end_ns: int


@dataclass
class StepRow:
    users: int
    op: str
    requests: int
    ok_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    error_ratio: float
    shed_ratio: float
    within_slo: bool


def stop_bounds(slos: dict[str, Slo]) -> str:
    """The bounds the Locust shape stops on, per endpoint, as JSON (AUTHCHAOS_CAPACITY_SLO)."""
    return json.dumps({op: {"p95_ms": s.p95_ms, "max_error_ratio": s.max_error_ratio} for op, s in slos.items()})


def capacity_slos(declared: list[Slo]) -> dict[str, Slo]:
    """The user's ``--slo`` per endpoint where given, else the defaults (me p95 100 ms, refresh 200 ms, 1 %)."""
    slos = dict(DEFAULT_SLOS)
    for slo in declared:
        if slo.op in ENDPOINTS:
            slos[slo.op] = slo
    return slos


def read_steps(history_dir: Path, end_ns: int) -> list[Step]:
    """The step marks the capacity shape wrote; each step ends where the next begins (the last at ``end_ns``)."""
    path = history_dir / CAPACITY_STEPS_FILE
    if not path.exists():
        return []
    marks = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    starts = [(int(m["users"]), int(m["start_ns"])) for m in marks]
    return [
        Step(users, start, starts[i + 1][1] if i + 1 < len(starts) else end_ns)
        for i, (users, start) in enumerate(starts)
    ]


def _row(step: Step, op: str, ops: list[Op], slo: Slo) -> StepRow:
    begin = step.start_ns + int(min(SETTLE_S, (step.end_ns - step.start_ns) / 4e9) * 1e9)  # short steps settle less
    mine = [o for o in ops if o.op == op and o.probe is None and begin <= o.start_ns < step.end_ns]
    seconds = max((step.end_ns - begin) / 1e9, 1e-9)
    latencies = [o.latency_ms for o in mine if o.status is not None]
    errors = sum(o.outcome != "ok" for o in mine) / len(mine) if mine else 0.0
    p95 = percentile(latencies, 95) if latencies else None
    within = (
        bool(mine)
        and (slo.max_error_ratio is None or errors <= slo.max_error_ratio)
        and (slo.p95_ms is None or (p95 is not None and p95 <= slo.p95_ms))
    )
    return StepRow(
        step.users,
        op,
        len(mine),
        round(sum(o.outcome == "ok" for o in mine) / seconds, 1),
        round(percentile(latencies, 50), 1) if latencies else None,
        round(p95, 1) if p95 is not None else None,
        round(errors, 4),
        round(sum(o.shed for o in mine) / len(mine), 4) if mine else 0.0,
        within,
    )


def _knee(rows: list[StepRow]) -> dict[str, Any] | None:
    """The best step within the SLO, and whether the search got past it.

    ``reached`` is False when the last step still met the SLO: the service's knee lies beyond the load this
    run produced. ``generator_bound`` then says whether throughput had stopped growing with users (the load
    generator, not the service, was the limit)."""
    held = [r for r in rows if r.within_slo]
    best = max(held, key=lambda r: r.ok_per_s, default=None)
    if best is None:
        return None
    reached = not rows[-1].within_slo
    flat = len(rows) >= 2 and rows[-1].ok_per_s < rows[-2].ok_per_s * PLATEAU and rows[-1].users >= rows[-2].users * 1.3
    return {
        "users": best.users,
        "ok_per_s": best.ok_per_s,
        "p95_ms": best.p95_ms,
        "reached": reached,
        "generator_bound": not reached and flat,
    }


def capacity(ops: list[Op], steps: list[Step], slos: dict[str, Slo]) -> dict[str, Any]:
    """The step table and, per endpoint, the knee (None when no step met the SLO)."""
    rows = [_row(step, op, ops, slos[op]) for step in steps for op in ENDPOINTS]
    knees = {op: _knee([r for r in rows if r.op == op]) for op in ENDPOINTS}
    return {
        "slo": {op: slo.model_dump(exclude_none=True) for op, slo in slos.items()},
        "settle_s": SETTLE_S,
        "steps": [asdict(r) for r in rows],
        "knees": knees,
        "stopped_at_users": steps[-1].users if steps else None,
    }
