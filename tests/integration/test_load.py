"""`authchaos load`: Locust as a subprocess, with faults on the timeline, SLO gates and correctness checks."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from authchaos.record.history import Op

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def load(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = subprocess.run(
        [sys.executable, "-m", "authchaos", "load", "--backend", "real", "--report-dir", str(tmp_path), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )
    run_json = tmp_path / "latest" / "run.json"
    return out, (json.loads(run_json.read_text())["scenarios"][0] if run_json.exists() else {})


def test_smoke_profile_passes_and_its_history_is_the_scenario_clients(tmp_path: Path) -> None:
    out, sc = load(tmp_path, "--profile", "smoke", env={"AUTHCHAOS_LOAD_REPLAY_RATIO": "0.3"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert sc["load"]["requests"] > 100 and sc["verdict"] == "pass"
    rows = [
        json.loads(line)
        for f in (tmp_path / "latest" / "history").glob("history-*.jsonl")
        for line in f.read_text().splitlines()
    ]
    fields = {f.name for f in dataclasses.fields(Op)}
    assert rows and all(set(r) - fields == {"worker"} for r in rows), "Locust rows are Op rows (plus the worker pid)"
    checks = {c["name"]: c for c in sc["checks"]}
    assert checks["reuse_revokes_family"]["applicable"] and checks["reuse_revokes_family"]["passed"]
    assert any(o.get("probe") == "after_reuse" and o.get("status") == 401 for o in sc["history"])
    assert (tmp_path / "latest" / "locust.html").exists() and (tmp_path / "latest" / "locust_stats.csv").exists()
    names = {s["name"] for s in sc["load"]["locust"]}
    assert {"/auth/refresh", "/auth/me", "/auth/login"} <= names and any("blacklist" in n for n in names)


def test_blackhole_in_the_middle_degrades_recovers_and_stays_correct(tmp_path: Path) -> None:
    out, sc = load(tmp_path, "--users", "12", "--spawn-rate", "12", "--duration", "12", "--fault", "blackhole@4+2")
    assert out.returncode == 0, out.stdout[-3000:]
    window = sc["timeline"]["windows"][0]
    assert window["kind"] == "blackhole" and window["start_s"] is not None and window["end_s"] is not None
    during = [o for o in sc["history"] if o["phase"].startswith("during")]
    assert any(o.get("status") == 503 for o in during) and any(o.get("degraded") for o in during)
    checks = {c["name"]: c for c in sc["checks"]}
    for name in ("revocations_stick", "rotation_once", "reuse_revokes_family", "recovery", "no_server_errors"):
        assert checks[name]["passed"], checks[name]
    html = (tmp_path / "latest" / "index.html").read_text()
    assert "blackhole" in html and "Per endpoint" in html


def test_an_impossible_slo_fails_and_names_the_threshold(tmp_path: Path) -> None:
    out, _ = load(tmp_path, "--users", "4", "--spawn-rate", "4", "--duration", "5", "--slo", "me:p95=0.001")
    assert out.returncode == 1
    assert "me any p95" in out.stdout and "> 0.001ms" in out.stdout


def test_distributed_mode_reports_each_workers_load(tmp_path: Path) -> None:
    out, sc = load(tmp_path, "--workers", "2", "--users", "8", "--spawn-rate", "8", "--duration", "8")
    assert out.returncode == 0, out.stdout[-3000:]
    per_worker = sc["load"]["per_worker"]
    assert len(per_worker) == 2 and all(n > 10 for n in per_worker.values()), per_worker


def test_bad_load_options_are_one_line(tmp_path: Path) -> None:
    out, _ = load(tmp_path, "--fault", "blackhole")
    assert out.returncode == 2 and "expected KIND[:attr=value,...]@START+DURATION" in out.stderr
    out, _ = load(tmp_path, "--target", "http://127.0.0.1:9", "--fault", "down@1+1")
    assert out.returncode == 2 and "--fault needs the harness's own Redis and Toxiproxy" in out.stderr


def test_ctrl_c_stops_locust_and_the_services(tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authchaos",
            "load",
            "--backend",
            "real",
            "--report-dir",
            str(tmp_path),
            "--duration",
            "60",
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--fault",
            "down@2+50",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(7)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert len(children) >= 3, "redis-server, toxiproxy-server, the service and Locust were running"
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    sc = json.loads((tmp_path / "latest" / "run.json").read_text())["scenarios"][0]
    assert sc["aborted"].startswith("interrupted") and sc["timeline"]["windows"][0]["end_s"] is not None
