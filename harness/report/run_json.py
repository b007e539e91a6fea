"""run.json: everything about a run, enough to replay it and to judge it again. No secrets, no tokens."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.report.environment import versions

if TYPE_CHECKING:  # the runner builds results; the report only reads them, and must not import the runner
    from harness.runner import ScenarioResult


def _window(w: Any, t0_ns: int) -> dict[str, Any]:
    def s(ns: int | None) -> float | None:
        return None if ns is None else round((ns - t0_ns) / 1e9, 4)

    return {
        "name": w.name, "kind": w.kind, "target": w.target, "planned_at_s": w.planned_at_s,
        "planned_for_s": w.planned_for_s, "start_s": s(w.start_ns), "end_s": s(w.end_ns),
        "skipped": w.skipped, "error": w.error,
    }  # fmt: skip


def scenario_dict(r: ScenarioResult) -> dict[str, Any]:
    t0 = r.history.t0_ns if r.history else 0
    ops = []
    for op in r.history.ops if r.history else []:
        d = op.as_dict()
        d["t_start_s"] = round((op.start_ns - t0) / 1e9, 4)
        d["t_end_s"] = round((op.end_ns - t0) / 1e9, 4)
        d["latency_ms"] = round(op.latency_ms, 3)
        del d["start_ns"], d["end_ns"]
        ops.append(d)
    return {
        "name": r.scenario.name,
        "description": r.scenario.description,
        "tags": r.scenario.tags,
        "source": r.scenario.source,
        "seed": r.seed,
        "backend": r.backend,
        "backend_reason": r.backend_reason,
        "started_at": r.started_at,
        "duration_s": r.duration_s,
        "verdict": r.verdict,
        "aborted": r.aborted,
        "error": r.error,
        "service_env": r.service_env,
        "scenario": r.scenario.model_dump(mode="json", by_alias=True),
        "steady_state": r.steady,
        "timeline": {
            "windows": [_window(w, t0) for w in r.timeline.windows],
            "rollback": r.timeline.rollback,
            "rollback_error": r.timeline.rollback_error,
        },
        "checks": [
            {
                "name": c.name,
                "passed": c.passed,
                "finding": c.finding,
                "summary": c.summary,
                "evidence": c.evidence,
                "details": c.details,
            }
            for c in r.checks
        ],
        "history": ops,
    }


def run_dict(results: list[ScenarioResult], started_at: str) -> dict[str, Any]:
    return {
        "authchaos": __version__,
        "started_at": started_at,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["authchaos", *sys.argv[1:]]),
        "versions": versions(),
        "verdict": overall(results),
        "scenarios": [scenario_dict(r) for r in results],
    }


def overall(results: list[ScenarioResult]) -> str:
    verdicts = {r.verdict for r in results}
    return "error" if "error" in verdicts else "fail" if "fail" in verdicts else "pass"
