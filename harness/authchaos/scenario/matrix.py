"""Scenario matrices: one compact file expands into fault x path scenarios.

The expected outcome of each cell comes from the degradation policy table in
the file (allowed statuses per path, by fault class), so sixty scenarios are
one definition, not sixty copies.
"""

from __future__ import annotations

import copy
from typing import Any

from authchaos.scenario.schema import Scenario, ScenarioError, parse_scenario


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def expand_matrix(data: dict[str, Any], source: str) -> list[Scenario]:
    m = data.get("matrix")
    if not isinstance(m, dict):
        raise ScenarioError(f"{source}: matrix: must be a mapping with faults, paths, policy and template")
    for key in ("faults", "paths", "policy", "template"):
        if not isinstance(m.get(key), dict):
            raise ScenarioError(f"{source}: matrix.{key}: must be a mapping")
    at, length = m.get("fault_at", 2), m.get("fault_for", 2)
    scenarios = []
    for fault_name, fault in m["faults"].items():
        if not isinstance(fault, dict) or "fault" not in fault or "class" not in fault:
            raise ScenarioError(f"{source}: matrix.faults.{fault_name}: needs 'fault' and 'class'")
        policy = m["policy"].get(fault["class"])
        if not isinstance(policy, dict):
            raise ScenarioError(
                f"{source}: matrix.faults.{fault_name}: class {fault['class']!r} has no matrix.policy entry"
            )
        for path, spec in m["paths"].items():
            allowed = policy.get(path)
            if allowed is None:
                raise ScenarioError(f"{source}: matrix.policy.{fault['class']}: no allowed statuses for path {path!r}")
            cell = _merge(
                m["template"],
                {
                    "name": m.get("name", "{fault}-{path}").format(fault=fault_name, path=path),
                    "description": m.get("description", "").format(
                        fault=fault_name, path=path, kind=fault["fault"].get("kind"), fclass=fault["class"]
                    ),
                    "tags": [*m.get("tags", []), f"fault:{fault_name}", f"path:{path}"],
                    "workload": spec,
                    "faults": [{"at": at, "for": length, "fault": fault["fault"]}],
                    "expect": {"status": [{"op": path, "phase": "during", "allowed": allowed}]},
                },
            )
            scenarios.append(parse_scenario(cell, f"{source}[{fault_name} x {path}]"))
    return scenarios
