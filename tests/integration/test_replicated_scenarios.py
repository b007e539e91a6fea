"""A replicated scenario end to end through the command line: a real cluster started, a slot migration during
batch blacklist, every check green, the figures in run.json, and nothing left running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authchaos.servers.processes import live_processes
from tests.support import authchaos

pytestmark = pytest.mark.integration


def test_cluster_slot_migration_scenario_runs_green(tmp_path: Path) -> None:
    before = {p.pid for p in live_processes()}
    out = authchaos(
        "run",
        "replicated-cluster-slot-migration",
        "--backend",
        "real",
        report_dir=tmp_path / "r",
        env={"AUTHCHAOS_BUGS": ""},
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    run = json.loads(next((tmp_path / "r").glob("*/run.json")).read_text())
    scenario = run["scenarios"][0]
    assert scenario["timeline"]["windows"][0]["kind"] == "slot_migration"
    checks = {c["name"]: c for c in scenario["checks"]}
    assert checks["acknowledged_revocations_lost"]["details"]["figures"]["lost"] == 0
    assert "unwritable_s_per_fault" in checks["writable_primary"]["details"]["figures"]
    assert {p.pid for p in live_processes()} <= before
