"""junit.xml: one testcase per scenario check, so any CI shows which check of which scenario failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def junit_xml(run: dict[str, Any]) -> bytes:
    suites = ET.Element("testsuites", name="authchaos")
    for sc in run["scenarios"]:
        failures = sum(not c["passed"] and not c.get("finding") for c in sc["checks"])
        skipped_faults = sc.get("skipped_faults") or []
        not_run = sc["verdict"] == "skipped"
        skipped = len(sc["checks"]) if not_run else sum(not c.get("applicable", True) for c in sc["checks"])
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=sc["name"],
            tests=str(max(1, len(sc["checks"]))),
            failures=str(0 if not_run else failures),
            errors="1" if sc["error"] else "0",
            skipped=str(skipped),
            time=str(sc["duration_s"]),
        )
        props = ET.SubElement(suite, "properties")
        for key in ("backend", "seed", "verdict"):
            ET.SubElement(props, "property", name=key, value=str(sc[key]))
        if sc["error"]:
            case = ET.SubElement(suite, "testcase", classname=sc["name"], name="harness")
            ET.SubElement(case, "error", message=sc["error"]).text = sc["error"]
        if sc["aborted"]:
            case = ET.SubElement(suite, "testcase", classname=sc["name"], name="aborted")
            ET.SubElement(case, "failure", message=sc["aborted"]).text = sc["aborted"]
        for check in sc["checks"]:
            case = ET.SubElement(suite, "testcase", classname=sc["name"], name=check["name"])
            if not_run:
                why = "scenario not run as designed: faults skipped: " + "; ".join(skipped_faults)
                ET.SubElement(case, "skipped", message=why)
            elif not check.get("applicable", True):
                ET.SubElement(case, "skipped", message=f"not applicable: {check['summary']}")
            elif check.get("finding"):
                ET.SubElement(case, "system-out").text = f"known finding (does not fail the gate): {check['summary']}"
            elif not check["passed"]:
                failure = ET.SubElement(case, "failure", message=check["summary"])
                failure.text = f"{check['summary']}\nevidence (operation ids in run.json): {check['evidence']}"
            else:
                ET.SubElement(case, "system-out").text = check["summary"]
    ET.indent(suites)
    xml: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return xml
