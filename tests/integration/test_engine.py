"""The scenario engine end to end, through the CLI: reports, the gate's exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from authchaos.checks import check_names
from tests.support import authchaos

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

SHORT = """
name: short-{kind}
tags: [mini]
workload: {{clients: 3, duration_s: 4, mix: {{me: 3, refresh: 2, login: 1}}}}
faults: [{{at: 1, for: 1.5, fault: {fault}}}]
expect: {{recovery_max_s: 2.5}}
"""


FAULTS = {"bandwidth": "{kind: bandwidth, rate_kbps: 10}"}


def scenarios_dir(tmp_path: Path, *kinds: str) -> Path:
    d = tmp_path / "scenarios"
    d.mkdir()
    for kind in kinds:
        fault = FAULTS.get(kind, f"{{kind: {kind}}}")
        (d / f"{kind}.yaml").write_text(SHORT.format(kind=kind, fault=fault))
    return d


def test_embedded_run_writes_all_three_reports_and_a_skipped_fault_is_not_a_pass(tmp_path: Path) -> None:
    d = scenarios_dir(tmp_path, "blackhole", "bandwidth")
    out = authchaos(
        "run", "mini", "--backend", "embedded", "--scenarios-dir", str(d), "--report-dir", str(tmp_path / "r")
    )
    assert "backend: embedded" in out.stdout, out.stdout
    latest = tmp_path / "r" / "latest"
    run = json.loads((latest / "run.json").read_text())
    by_name = {s["name"]: s for s in run["scenarios"]}
    assert by_name["short-blackhole"]["verdict"] == "pass", out.stdout
    bandwidth = by_name["short-bandwidth"]
    assert "not supported on the embedded backend" in bandwidth["timeline"]["windows"][0]["skipped"]
    assert bandwidth["verdict"] == "skipped" and run["verdict"] == "skipped"
    assert out.returncode == 2, out.stdout + out.stderr
    assert "SKIPPED short-bandwidth" in out.stdout
    suites = {s.get("name"): s for s in ET.parse(latest / "junit.xml").getroot().findall("testsuite")}
    assert set(suites) == {"short-blackhole", "short-bandwidth"}
    # the experiment, then every check that judged something; the others are properties, never skipped tests
    judged = {c.get("name") for c in suites["short-blackhole"].findall("testcase")} - {"experiment"}
    not_applicable = {
        str(p.get("name")).removeprefix("not_applicable.")
        for p in suites["short-blackhole"].iter("property")
        if str(p.get("name")).startswith("not_applicable.")
    }
    assert judged | not_applicable == set(check_names()) and not judged & not_applicable and not_applicable
    assert suites["short-blackhole"].find("testcase/skipped") is None
    skipped_cases = suites["short-bandwidth"].findall("testcase/skipped")  # not run as designed: all skipped
    assert len(skipped_cases) == len(suites["short-bandwidth"].findall("testcase")) > 1
    assert "faults skipped" in skipped_cases[0].get("message", "")
    html = (latest / "index.html").read_text()
    assert "<svg" in html and "short-blackhole" in html and "embedded" in html and "<script" not in html
    assert "SKIPPED" in html and "Not run as designed: faults skipped" in html and "not applicable" in html
    assert "secret" not in (latest / "run.json").read_text().lower()
    allowed = authchaos(
        "run",
        "mini",
        "--backend",
        "embedded",
        "--allow-skipped",
        "--scenarios-dir",
        str(d),
        "--report-dir",
        str(tmp_path / "r"),
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def test_replay_runs_the_same_scenario_and_seed(tmp_path: Path) -> None:
    d = scenarios_dir(tmp_path, "down")
    first = authchaos(
        "run",
        "short-down",
        "--backend",
        "embedded",
        "--seed",
        "99",
        "--scenarios-dir",
        str(d),
        "--report-dir",
        str(tmp_path / "r"),
    )
    assert first.returncode == 0, first.stdout
    run_json = (tmp_path / "r" / "latest" / "run.json").resolve()
    again = authchaos("replay", str(run_json), "--backend", "embedded", "--report-dir", str(tmp_path / "r"))
    assert again.returncode == 0, again.stdout + again.stderr
    replayed = json.loads((tmp_path / "r" / "latest" / "run.json").read_text())["scenarios"][0]
    original = json.loads(run_json.read_text())["scenarios"][0]
    assert replayed["seed"] == original["seed"] == 99
    assert {**replayed["scenario"], "seed": None} == {**original["scenario"], "seed": None}
    assert [w["planned_at_s"] for w in replayed["timeline"]["windows"]] == [1.0]


def test_gate_fails_on_unsafe_redis_and_passes_without(tmp_path: Path) -> None:
    d = scenarios_dir(tmp_path, "blackhole")
    (d / "blackhole.yaml").write_text((d / "blackhole.yaml").read_text().replace("[mini]", "[gate]"))
    common = ("gate", "--backend", "real", "--scenarios-dir", str(d), "--report-dir", str(tmp_path / "r"))
    buggy = authchaos(*common, env={"AUTHCHAOS_BUGS": "unsafe_redis"})
    assert buggy.returncode == 1, buggy.stdout + buggy.stderr
    assert "no_server_errors" in buggy.stdout
    fixed = authchaos(*common, env={"AUTHCHAOS_BUGS": ""})
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("name: x\nworkload: {clients: -1}\n")
    out = authchaos("run", "--scenarios-dir", str(bad))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "x.yaml: workload.clients" in out.stderr
    out = authchaos("run", "nothing-called-this")
    assert out.returncode == 2 and "no scenario or tag named 'nothing-called-this'" in out.stderr
    out = authchaos("run", "--backend", "real", env={"TOXIPROXY_BIN": "/nope"})
    assert out.returncode == 2 and "TOXIPROXY_BIN=/nope is not an executable file" in out.stderr
    out = authchaos("replay", str(bad / "x.yaml"))
    assert out.returncode == 2 and "is not an authchaos run.json" in out.stderr


def test_ctrl_c_rolls_back_and_leaves_a_partial_report(tmp_path: Path) -> None:
    d = tmp_path / "scenarios"
    d.mkdir()
    (d / "long.yaml").write_text(
        "name: long\nworkload: {clients: 2, duration_s: 30}\nfaults: [{at: 0.5, for: 25, fault: {kind: down}}]\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authchaos",
            "run",
            "long",
            "--backend",
            "real",
            "--scenarios-dir",
            str(d),
            "--report-dir",
            str(tmp_path / "r"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    time.sleep(6)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: faults rolled back, services stopped" in err and "Traceback" not in err
    run = json.loads((tmp_path / "r" / "latest" / "run.json").read_text())
    sc = run["scenarios"][0]
    assert sc["aborted"].startswith("interrupted") and sc["timeline"]["windows"][0]["end_s"] is not None
    assert children, "the run had started its servers"
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
