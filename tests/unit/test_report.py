"""index.html and junit.xml from a hand-made run: what a reader (and CI) must find in them, and what must not be there.

The run goes through run_dict, as the suite writes it, so a change to the run.json shape that the
renderers miss fails here too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from authchaos.checks import CheckResult
from authchaos.record.history import History, Op
from authchaos.record.windows import FaultWindow, TimelineResult
from authchaos.report import html
from authchaos.report.html import render_html
from authchaos.report.junit import junit_xml
from authchaos.report.run_json import run_dict
from authchaos.run.results import ScenarioResult
from authchaos.scenario.schema import parse_scenario

S = 1_000_000_000  # one second in ns
T0 = 50 * S
ACCESS_SECRET = "fake-access-secret-4f1d9c2e7b"  # made up; must never reach a report


def op(i: int, name: str, t: float, status: int | None, outcome: str = "ok", **kw: Any) -> Op:
    return Op(i, i % 2, name, T0 + int(t * S), T0 + int((t + 0.02) * S), outcome, status, **kw)  # type: ignore[arg-type]


def blackhole_result() -> ScenarioResult:
    """Fails one check (evidence ops 2 and 3), has a known finding, one fault applied, one skipped."""
    scenario = parse_scenario({"name": "net-blackhole", "description": "Redis stops answering for a second."}, "t")
    env = {"AUTHCHAOS_BUGS": "no_batch_blacklist", "AUTHCHAOS_JWT_ACCESS_SECRET": ACCESS_SECRET}
    result = ScenarioResult(
        scenario, 7, "embedded", "requested", "2026-01-01T00:00:00+00:00", env, duration_s=3.1, allow_skipped=True
    )  # judged on its checks although a fault was skipped
    applied = FaultWindow("blackhole", "blackhole", "network", 1.0, 1.0, T0 + 1 * S, T0 + 2 * S)
    skipped = FaultWindow("latency(200ms)", "latency", "network", 1.5, 1.0, skipped="no proxy for this target")
    result.timeline = TimelineResult([applied, skipped], rollback=["removed toxic blackhole on redis"])
    result.history = History(T0, windows=[applied, skipped])
    result.history.ops = [
        op(0, "login", 0.2, 200, new_token_id="tid-0", new_family="fam-0"),
        op(1, "refresh", 0.6, 200, token_id="tid-0", new_token_id="tid-1"),
        op(2, "me", 1.3, None, "unknown", error="timeout", message="redis timeout"),
        op(3, "refresh", 1.5, 503, "fail", degraded=True, error="store_unavailable"),
        op(4, "me", 2.6, 200),
    ]
    result.history.label_phases()
    result.steady = {
        "before": {"passed": True, "probes": [{"op": "health", "status": 200}]},
        "after": {"passed": False, "probes": [{"op": "refresh", "status": 503}]},
    }
    result.checks = [
        CheckResult("steady_state", True, "hypothesis held before the faults"),
        CheckResult("revocations_stick", False, "2 revoked tokens accepted <again>", evidence=[2, 3]),
        CheckResult("latency_slo", False, "p95 over budget", evidence=[4], finding=True),
    ]
    return result


def broken_result() -> ScenarioResult:
    """The harness could not run it: no history, an error, and a rollback that itself failed."""
    scenario = parse_scenario({"name": "gate-baseline"}, "t")
    result = ScenarioResult(scenario, 1, "real", "installed", "2026-01-01T00:00:05+00:00", {"AUTHCHAOS_BUGS": ""})
    result.error = "RuntimeError: redis-server did not start"
    result.timeline.rollback_error = "toxiproxy unreachable"
    return result


@pytest.fixture
def run() -> dict[str, Any]:
    return run_dict([blackhole_result(), broken_result()], "2026-01-01T00:00:00+00:00")


@pytest.fixture
def page(run: dict[str, Any]) -> str:
    return render_html(run)


def section(page: str, name: str) -> str:
    """One scenario's part of the page: from its heading to the next one."""
    start = page.index(f'<h2 id="{name}">')
    end = page.find("<h2 ", start + 1)
    return page[start : end if end != -1 else None]


def test_the_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>") and "<style>" in page and "<svg " in page
    assert not re.search(r"\bsrc\s*=", page), "nothing may be loaded: the page must open offline"
    assert "<link" not in page and "<script" not in page
    assert re.findall(r"href=(\"[^\"]*\"|'[^']*')", page) == ['"#net-blackhole"', '"#gate-baseline"']
    assert "http://" not in page and "https://" not in page


def test_each_scenario_has_a_section_with_its_verdict(run: dict[str, Any], page: str) -> None:
    assert run["verdict"] == "error"
    assert "authchaos resilience report <span class='verdict error'>ERROR</span>" in page
    assert '<h2 id="net-blackhole">net-blackhole <span class="verdict fail">FAIL</span></h2>' in page
    assert '<h2 id="gate-baseline">gate-baseline <span class="verdict error">ERROR</span></h2>' in page
    assert "Failed checks: <b>revocations_stick</b>." in section(page, "net-blackhole")
    assert "Known findings (expected here, reported, not failing): <b>latency_slo</b>." in page
    assert "<b>Harness error:</b> RuntimeError: redis-server did not start" in section(page, "gate-baseline")
    assert "bug switches: no_batch_blacklist" in page


def test_the_applied_fault_is_shaded_where_it_ran_and_the_skipped_one_is_not(page: str) -> None:
    svg = section(page, "net-blackhole").split("<svg ", 1)[1].split("</svg>", 1)[0]
    shades = re.findall(r'<rect class="fault" data-fault="([^"]+)"[^>]* x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    t_max = 3.0  # the last operation ends at 2.6 + 0.02 s: the axis ends at the next whole second
    want = ("blackhole", f"{html._x(1.0, t_max):.1f}", f"{html._x(2.0, t_max) - html._x(1.0, t_max):.1f}")
    assert shades == [want]
    bars = re.findall(r'<rect class="second" data-second="(\d)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert [int(b[0]) for b in bars] == [0, 1, 2]  # one bar per second of the axis, the last one included
    for second, x, width in bars:  # bar k spans [k, k+1) of the same axis as the shaded window
        assert html._x(int(second), t_max) <= float(x) < float(x) + float(width) <= html._x(int(second) + 1, t_max)
    assert ">blackhole</text>" in svg and "latency(200ms)" not in svg
    assert "<b>latency(200ms)</b>: <span class='bad'>skipped</span>: no proxy for this target" in page
    assert "<b>blackhole</b> (network): from 1.00s until 2.00s" in page


def test_a_failing_check_lists_the_operations_that_broke_it(page: str) -> None:
    checks = section(page, "net-blackhole").split("<h3>Checks</h3>", 1)[1]
    row = checks[checks.index("<td>revocations_stick</td>") :]
    row = row[: row.index('<tr><td><span class="')]  # up to the next check's row
    assert "<details open><summary>2 operations that broke it</summary>" in row
    assert re.findall(r'<tr><td class="mono">(\d+)</td>', row) == ["2", "3"]
    assert "2 revoked tokens accepted &lt;again&gt;" in row, "summaries are escaped"
    finding = checks[checks.index("<td>latency_slo</td>") :]
    assert "<details><summary>1 operations that broke it</summary>" in finding, "a finding is not expanded"
    assert '<span class="bad">FAIL</span></td><td>revocations_stick' in checks
    assert '<span class="warn">finding</span></td><td>latency_slo' in checks


def test_rollback_and_steady_state_are_recorded(page: str) -> None:
    assert "<p>Rollback: removed toxic blackhole on redis.</p>" in section(page, "net-blackhole")
    broken = section(page, "gate-baseline")
    assert "Rollback: nothing was left to undo <span class='bad'>rollback error: toxiproxy unreachable</span>" in broken
    assert "<li>before: <span class='ok'>held</span> (health=200)</li>" in page
    assert "<li>after: <span class='bad'>did not hold</span> (refresh=503)</li>" in page


def test_service_secrets_do_not_reach_html_or_junit(run: dict[str, Any], page: str) -> None:
    """The renderers show only AUTHCHAOS_BUGS of service_env: a secret put there by mistake stays out.

    run.json is another matter: run_dict copies service_env verbatim, keeping secrets out of it is
    runner.service_env()'s job (secrets go to the service separately).
    """
    assert run["scenarios"][0]["service_env"]["AUTHCHAOS_JWT_ACCESS_SECRET"] == ACCESS_SECRET  # the input has it
    report = page + junit_xml(run).decode()
    assert ACCESS_SECRET not in report


def test_a_scenario_whose_fault_was_skipped_is_not_a_pass() -> None:
    result = blackhole_result()
    result.allow_skipped = False
    result.checks = [
        CheckResult("steady_state", True, "held"),
        CheckResult("legacy_corpus", True, "none", applicable=False),
    ]
    run = run_dict([result], "2026-01-01T00:00:00+00:00")
    assert run["verdict"] == "skipped" and run["scenarios"][0]["skipped_faults"]
    page = render_html(run)
    assert '<span class="verdict skipped">SKIPPED</span>' in page and "Not run as designed: faults skipped" in page
    suite = next(ET.fromstring(junit_xml(run)).iter("testsuite"))
    assert suite.get("skipped") == "2" and suite.get("failures") == "0"  # the experiment and the judged check
    assert all((c.find("skipped") is not None) for c in suite.iter("testcase"))


def test_a_check_with_nothing_to_judge_says_not_applicable(run: dict[str, Any]) -> None:
    result = blackhole_result()
    result.checks = [CheckResult("legacy_corpus", True, "this scenario replays no legacy corpus", applicable=False)]
    one = run_dict([result], "2026-01-01T00:00:00+00:00")
    assert "not applicable" in render_html(one)
    suite = next(ET.fromstring(junit_xml(one)).iter("testsuite"))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["not_applicable.legacy_corpus"] == "this scenario replays no legacy corpus"
    assert [c.get("name") for c in suite.iter("testcase")] == ["experiment"]  # neither a pass nor a skip


async def test_without_a_terminal_a_progress_line_comes_at_a_steady_interval() -> None:
    import asyncio
    import io

    from rich.console import Console

    from authchaos.report.terminal import ProgressLines, columns_table

    sink = io.StringIO()
    console = Console(file=sink, width=60, force_terminal=False)
    lines = ProgressLines(console, interval_s=0.05)
    async with lines:
        lines.update("gate-baseline (1/2): workload: 12 ops, 40%")
        await asyncio.sleep(0.18)
        lines.update("gate-baseline (1/2): workload during blackhole: 30 ops, 70%")
        await asyncio.sleep(0.12)
    text = sink.getvalue()
    assert text.count("… gate-baseline (1/2): workload: 12 ops, 40%") >= 2
    assert "… gate-baseline (1/2): workload during blackhole: 30 ops, 70%" in text
    quiet = ProgressLines(Console(file=io.StringIO(), force_terminal=True), interval_s=0.05)
    assert not quiet.active  # a terminal has its progress bar
    table = columns_table("t", ("scenario", "failed checks"))
    table.add_row("gate-degraded-window", "revocations_hold_while_healthy, acknowledged_revocations_lost")
    narrow = Console(file=io.StringIO(), width=40)
    narrow.print(table)
    out = narrow.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in out and "acknowledged_revo" in out and "cations_lost" in out  # folded, never cut


def test_only_a_probe_turned_away_as_it_should_be_is_drawn_as_expected() -> None:
    base = {"t_start_s": 0.1, "t_end_s": 0.2, "latency_ms": 3.0}
    revoked_401 = {**base, "probe": "revoked", "status": 401, "outcome": "ok"}
    replayed = {**base, "probe": "replayed", "status": 401, "outcome": "fail", "error": "token_reused"}
    wrong_path = {**base, "probe": "revoked", "status": 404, "outcome": "fail"}
    assert html._color(revoked_401) == html._color(replayed) == html.COLORS["rejected as expected"]
    assert html._color(wrong_path) == html.COLORS["fail"]
    assert html._per_second([revoked_401, replayed, wrong_path], 1) == ([3], [1])
