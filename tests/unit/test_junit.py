"""junit.xml as CI viewers read it, validated against the JUnit schema Jenkins' xUnit plugin and pytest use."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from authchaos.checks.context import CheckResult
from authchaos.report.junit import junit_xml
from authchaos.report.run_json import run_dict
from authchaos.run.results import ScenarioResult
from tests.unit.test_report import blackhole_result, broken_result

XSD = xmlschema.XMLSchema(Path(__file__).resolve().parents[1] / "fixtures" / "junit" / "junit-10.xsd")


def junit(*results: ScenarioResult) -> ET.Element:
    xml = junit_xml(run_dict(list(results), "2026-01-01T00:00:00+00:00"))
    XSD.validate(xml.decode())  # raises with the offending element and attribute
    return ET.fromstring(xml)


def cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def suites(root: ET.Element) -> dict[str, ET.Element]:
    return {s.get("name", ""): s for s in root.iter("testsuite")}


def judged(name: str = "ok", *checks: CheckResult) -> ScenarioResult:
    result = blackhole_result()
    result.scenario = result.scenario.model_copy(update={"name": name})
    result.checks = list(checks) or [CheckResult("steady_state", True, "held", seconds=0.25)]
    return result


def test_every_shape_validates_and_the_root_carries_the_totals() -> None:
    root = junit(blackhole_result(), broken_result())
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
    assert float(root.get("time") or 0) == pytest.approx(3.1)  # the experiments' times, plus judging times
    blackhole = suites(root)["net-blackhole"]
    assert (blackhole.get("tests"), blackhole.get("failures"), blackhole.get("errors")) == ("4", "1", "0")
    assert blackhole.get("timestamp") == "2026-01-01T00:00:00"
    assert all(c.get("time") is not None for c in root.iter("testcase"))


def test_the_experiment_is_a_testcase_with_the_scenarios_time_and_a_harness_error_is_typed() -> None:
    root = junit(blackhole_result(), broken_result())
    experiment = cases(root)["net-blackhole", "experiment"]
    assert experiment.get("time") == "3.100" and experiment.find("failure") is None
    error = cases(root)["gate-baseline", "experiment"].find("error")
    assert error is not None and error.get("type") == "authchaos.HarnessError"
    assert error.get("message") == "RuntimeError: redis-server did not start"


def test_a_failed_check_is_a_typed_failure_with_its_evidence_and_a_finding_is_not() -> None:
    all_cases = cases(junit(blackhole_result()))
    failure = all_cases["net-blackhole", "revocations_stick"].find("failure")
    assert failure is not None and failure.get("type") == "authchaos.CheckFailed"
    assert failure.get("message") == "2 revoked tokens accepted <again>"
    assert "evidence (operation ids in run.json): [2, 3]" in (failure.text or "")
    finding = all_cases["net-blackhole", "latency_slo"]
    assert finding.find("failure") is None
    assert (finding.findtext("system-out") or "").startswith("known finding (does not fail the gate)")


def test_checks_with_nothing_to_judge_are_properties_not_tests() -> None:
    na = CheckResult("legacy_corpus", True, "this scenario replays no legacy corpus", applicable=False)
    root = junit(judged("ok", CheckResult("steady_state", True, "held", seconds=0.25), na))
    suite = suites(root)["ok"]
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names == ["experiment", "steady_state"] and suite.get("tests") == "2" and suite.get("skipped") == "0"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["not_applicable.legacy_corpus"] == "this scenario replays no legacy corpus"
    assert cases(root)["ok", "steady_state"].get("time") == "0.250"
    assert root.find(".//skipped") is None


def test_only_a_scenario_not_run_as_designed_is_skipped() -> None:
    result = judged("not-run")
    result.allow_skipped = False  # its second fault could not be produced
    suite = suites(junit(result))["not-run"]
    assert suite.get("skipped") == suite.get("tests") == "2" and suite.get("failures") == "0"


def test_with_a_bug_on_only_its_symptoms_red_is_expected_and_the_proof_says_whether_it_was_noticed() -> None:
    symptom = CheckResult("no_false_rejections", False, "3 legitimate tokens rejected")
    other = CheckResult("contract_conformance", False, "12 answers matched no declared outcome")
    caught = judged("switched+bug", symptom, other)
    quiet = judged("other+bug", CheckResult("no_false_rejections", True, "none"))
    for r in (caught, quiet):
        r.expected, r.expected_checks = "bug-on", ("no_false_rejections",)
    proof = [
        {"name": "legacy_fallback_tokens", "verdict": "caught", "ok": True, "detail": "switched+bug: ..."},
        {"name": "no_breaker", "verdict": "MISSED", "ok": False, "detail": ""},
    ]
    xml = junit_xml(run_dict([caught, quiet], "2026-01-01T00:00:00+00:00", proof))
    XSD.validate(xml.decode())
    root = ET.fromstring(xml)
    red = cases(root)["switched+bug", "no_false_rejections"]
    assert red.find("failure") is None and "expected failure" in (red.findtext("system-out") or "")
    side = cases(root)["switched+bug", "contract_conformance"]  # not its symptom: a side effect, judged by the proof
    assert side.find("failure") is None and "a side effect of it" in (side.findtext("system-out") or "")
    assert suites(root)["other+bug"].get("failures") == "0"  # a scenario that cannot see the bug is no failure
    proof_suite = suites(root)["proof"]
    assert (proof_suite.get("tests"), proof_suite.get("failures")) == ("2", "1")
    missed = cases(root)["proof", "no_breaker"].find("failure")
    assert missed is not None and missed.get("type") == "authchaos.BugNotCaught"
    assert cases(root)["proof", "legacy_fallback_tokens"].find("failure") is None
    assert root.get("failures") == "1"  # the proof's one unnoticed bug: the CI verdict matches the exit code
