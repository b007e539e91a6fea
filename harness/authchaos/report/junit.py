"""junit.xml as CI viewers read it: one testsuite per scenario, one testcase per check that judged something.

Totals on the root and on each suite, a ``time`` on every testcase (the ``experiment`` testcase carries the
scenario's run time, each check its judging time), a ``type`` on every failure and error. A check with nothing
to judge is neither a pass nor a skipped test: it is listed in the suite's properties
(``not_applicable.<check>``). Only a scenario that did not run as designed (a fault it could not produce) is
``<skipped>``. With a known bug switched on (``repro``, ``prove``) failed checks are expected (system-out says
whether each names the bug's symptom or is a side effect); whether the bug was noticed, by the right check, is
the run's ``proof``: a testsuite ``proof``, one testcase per bug, failing when it went unnoticed or was noticed
only by checks that do not name its symptom (a wrong symptom). Validated in the
tests against the JUnit schema Jenkins' xUnit plugin and pytest use (``junit-10.xsd``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

FAILURE_TYPE = "authchaos.CheckFailed"
ERROR_TYPE = "authchaos.HarnessError"
UNCAUGHT_TYPE = "authchaos.BugNotCaught"


@dataclass
class Counts:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0

    def add(self, other: Counts) -> None:
        self.tests += other.tests
        self.failures += other.failures
        self.errors += other.errors
        self.skipped += other.skipped
        self.time += other.time

    def attrs(self) -> dict[str, str]:
        return {
            "tests": str(self.tests),
            "failures": str(self.failures),
            "errors": str(self.errors),
            "skipped": str(self.skipped),
            "time": f"{self.time:.3f}",
        }


def _case(suite: ET.Element, counts: Counts, classname: str, name: str, seconds: float) -> ET.Element:
    counts.tests += 1
    counts.time += seconds
    return ET.SubElement(suite, "testcase", name=name, classname=classname, time=f"{seconds:.3f}")


def _fail(case: ET.Element, counts: Counts, message: str, text: str, kind: str = FAILURE_TYPE) -> None:
    counts.failures += 1
    ET.SubElement(case, "failure", message=message, type=kind).text = text


def _experiment(suite: ET.Element, counts: Counts, sc: dict[str, Any]) -> None:
    """The run itself as a testcase: an error when the harness failed, skipped when not run as designed."""
    case = _case(suite, counts, sc["name"], "experiment", float(sc["duration_s"] or 0.0))
    if sc["error"]:
        counts.errors += 1
        ET.SubElement(case, "error", message=sc["error"], type=ERROR_TYPE).text = sc["error"]
    elif sc["verdict"] == "skipped":
        counts.skipped += 1
        why = "not run as designed: faults skipped: " + "; ".join(sc.get("skipped_faults") or [])
        ET.SubElement(case, "skipped", message=why)
    elif sc["aborted"]:
        _fail(case, counts, sc["aborted"], sc["aborted"])
    else:
        ET.SubElement(case, "system-out").text = f"ran on the {sc['backend']} backend in {sc['duration_s']}s"


def _check(suite: ET.Element, counts: Counts, sc: dict[str, Any], check: dict[str, Any]) -> None:
    case = _case(suite, counts, sc["name"], check["name"], float(check.get("seconds") or 0.0))
    failed = not check["passed"] and not check.get("finding")
    if sc["verdict"] == "skipped":
        counts.skipped += 1
        ET.SubElement(case, "skipped", message="not run as designed: its faults were skipped")
    elif check.get("finding"):
        ET.SubElement(case, "system-out").text = f"known finding (does not fail the gate): {check['summary']}"
    elif failed and sc.get("expected") == "bug-on":
        symptom = check["name"] in (sc.get("expected_checks") or [check["name"]])
        why = "names its symptom" if symptom else "a side effect of it; the proof suite judges the bug"
        ET.SubElement(case, "system-out").text = f"expected failure (a known bug is on: {why}): {check['summary']}"
    elif failed:
        evidence = f"{check['summary']}\nevidence (operation ids in run.json): {check['evidence']}"
        _fail(case, counts, check["summary"], evidence)
    else:
        ET.SubElement(case, "system-out").text = check["summary"]


def _suite(parent: ET.Element, sc: dict[str, Any]) -> Counts:
    counts = Counts()
    suite = ET.SubElement(parent, "testsuite", name=sc["name"], timestamp=str(sc.get("started_at") or "")[:19])
    props = ET.SubElement(suite, "properties")
    for key in ("backend", "seed", "verdict", "expected", "service"):
        ET.SubElement(props, "property", name=key, value=str(sc.get(key) or ""))
    judged = [c for c in sc["checks"] if c.get("applicable", True)]
    for check in sc["checks"]:
        if not check.get("applicable", True):
            ET.SubElement(props, "property", name=f"not_applicable.{check['name']}", value=check["summary"])
    _experiment(suite, counts, sc)
    for check in judged:
        _check(suite, counts, sc, check)
    suite.attrib.update(counts.attrs())
    return counts


def _proof(parent: ET.Element, rows: list[dict[str, Any]]) -> Counts:
    """One testcase per switched-on bug: a failure when the gate did not notice it (or noticed the wrong thing)."""
    counts = Counts()
    suite = ET.SubElement(parent, "testsuite", name="proof")
    for row in rows:
        case = _case(suite, counts, "proof", str(row["name"]), 0.0)
        text = f"{row['verdict']}: {row.get('detail') or '-'}"
        if row["ok"]:
            ET.SubElement(case, "system-out").text = text
        else:
            _fail(case, counts, text, text, UNCAUGHT_TYPE)
    suite.attrib.update(counts.attrs())
    return counts


def junit_xml(run: dict[str, Any]) -> bytes:
    root = ET.Element("testsuites", name="authchaos")
    total = Counts()
    for sc in run["scenarios"]:
        total.add(_suite(root, sc))
    if run.get("proof") is not None:
        total.add(_proof(root, run["proof"]))
    root.attrib.update({k: v for k, v in total.attrs().items() if k != "skipped"})  # the schema has no root skipped
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
