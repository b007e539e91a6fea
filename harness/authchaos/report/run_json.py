"""run.json: everything about a run, enough to replay it and to judge it again. No secrets, no tokens."""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authchaos import __version__
from authchaos.report.environment import versions
from authchaos.run.results import ScenarioResult, overall
from authchaos.scenario.schema import Scenario, ScenarioError, parse_scenario


def _window(w: Any, t0_ns: int) -> dict[str, Any]:
    def s(ns: int | None) -> float | None:
        return None if ns is None else round((ns - t0_ns) / 1e9, 4)

    return {
        "name": w.name,
        "kind": w.kind,
        "target": w.target,
        "planned_at_s": w.planned_at_s,
        "planned_for_s": w.planned_for_s,
        "start_s": s(w.start_ns),
        "end_s": s(w.end_ns),
        "skipped": w.skipped,
        "error": w.error,
    }


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
        "expected": r.expected,
        "expected_checks": list(r.expected_checks) if r.expected_checks is not None else None,
        "service": r.service,
        "aborted": r.aborted,
        "error": r.error or ("; ".join(r.fault_errors) or None),
        "skipped_faults": r.skipped_faults,
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
                "applicable": c.applicable,
                "summary": c.summary,
                "evidence": c.evidence,
                "details": c.details,
                "seconds": c.seconds,
            }
            for c in r.checks
        ],
        "history": ops,
        **({"load": r.load} if r.load is not None else {}),
    }


def run_dict(
    results: list[ScenarioResult], started_at: str, proof: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``proof``: one row per known bug a proving driver switched on (``name``, ``verdict``, ``ok``, ``detail``):
    whether the gate noticed it, which no single scenario can say."""
    return {
        "authchaos": __version__,
        "started_at": started_at,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["authchaos", *sys.argv[1:]]),
        "versions": versions(),
        "verdict": overall(results),
        "scenarios": [scenario_dict(r) for r in results],
        **({"proof": proof} if proof is not None else {}),
    }


# -- reading a run.json back (replay) ------------------------------------------------------------

RUN_JSON_FIX = "pass the run.json an authchaos report wrote, e.g. reports/latest/run.json"


class RunFileError(Exception):
    """A run.json that cannot be replayed; the message is one line naming the file and the fix."""


@dataclass(frozen=True)
class RunFile:
    """A run.json, checked as far as replay relies on it: a list of scenarios, each with name, seed, definition."""

    path: Path
    data: dict[str, Any]

    @property
    def names(self) -> list[str]:
        return [s["name"] for s in self.data["scenarios"]]

    def scenarios(self, only: str | None = None) -> list[Scenario]:
        """The stored definitions with their stored seeds; only the selected ones are parsed, so a
        scenario that no longer validates does not stop the replay of another."""
        entries = [s for s in self.data["scenarios"] if only in (None, s["name"])]
        if not entries:
            if only is None:
                raise RunFileError(f"no scenarios in {self.path}: {RUN_JSON_FIX}")
            raise RunFileError(f"no scenario named {only!r} in {self.path} (it has: {', '.join(self.names)})")
        out = []
        for s in entries:
            try:
                scenario = parse_scenario(s["scenario"], f"{self.path}:{s['name']}")
            except ScenarioError as exc:
                raise RunFileError(str(exc)) from None
            scenario.seed = s["seed"]
            out.append(scenario)
        return out


def read_run(path: Path) -> RunFile:
    """Load a run.json for replay; every way it can be wrong is a RunFileError, never a KeyError later on."""
    problem: str | None
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise RunFileError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        data, problem = None, f"{type(exc).__name__}: {exc}"
    else:
        problem = _shape_problem(data)
    if problem:
        raise RunFileError(f"{path} is not an authchaos run.json ({problem}); {RUN_JSON_FIX}")
    return RunFile(path, data)


def _shape_problem(data: object) -> str | None:
    """What replay would trip over, in words; None when the shape is right."""
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        return "no 'scenarios' list at the top"
    for i, s in enumerate(data["scenarios"]):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            return f"scenarios[{i}] has no 'name'"
        if not isinstance(s.get("seed"), int) or isinstance(s["seed"], bool):
            return f"scenarios[{i}] ({s['name']}) has no integer 'seed'"
        if "scenario" not in s:
            return f"scenarios[{i}] ({s['name']}) has no 'scenario' definition"
    return None
