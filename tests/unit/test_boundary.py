"""The harness drives the service as a black box, and its layers stay light and small.

- only the code that starts the reference service imports ``reference_impl``;
- the history, the checkers, the scenario model and the reports import no process management;
- no function grows past ~50 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTS_THE_SERVICE = {
    "harness/services/reference.py",  # its switches, keys and store
    "harness/services/inprocess_service.py",  # the embedded backend runs it on a thread
    "harness/cli.py",  # `authchaos serve` and `authchaos cleanup` are the service's own commands
}
MAX_FUNCTION_LINES = 50


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_service_starters_import_reference_impl() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in [*ROOT.joinpath("harness").rglob("*.py"), ROOT / "scenarios" / "load" / "locustfile.py"]
        if any(m.split(".")[0] == "reference_impl" for m in _imports(p))
        and str(p.relative_to(ROOT)) not in STARTS_THE_SERVICE
    ]
    assert offenders == []


def test_judging_and_reporting_import_no_process_management() -> None:
    code = (
        "import sys, harness.history, harness.checks, harness.scenario.model, harness.report.run_json, "
        "harness.report.html, harness.protocol, harness.tokens\n"
        "heavy = [m for m in sys.modules if m in ('harness.services.processes', 'harness.faults.nemesis', "
        "'harness.faults.toxiproxy_client', 'reference_impl.app', 'locust')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_no_function_is_longer_than_fifty_lines() -> None:
    long = []
    for package in ("harness", "reference_impl", "benchmarks"):
        for path in ROOT.joinpath(package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []
