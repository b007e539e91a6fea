"""The house's rules: layers and cycles (import-linter, run by ``make lint``), light judging code, unique
module names, and a wheel that ships every package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"authchaos": ROOT / "harness" / "authchaos", "authchaos_reference": ROOT / "reference_impl"}
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _modules() -> list[Path]:
    return [
        p
        for p in [*(ROOT / "harness").rglob("*.py"), *(ROOT / "reference_impl").rglob("*.py")]
        if "__pycache__" not in p.parts
    ]


def test_judging_and_reporting_import_no_process_management() -> None:
    code = (
        "import sys, authchaos.record.history, authchaos.checks, authchaos.scenario.schema, "
        "authchaos.report.run_json, authchaos.report.html, authchaos.record.protocol, authchaos.record.token_keys\n"
        "heavy = [m for m in sys.modules if m in ('authchaos.servers.processes', 'authchaos.faults.nemesis', "
        "'authchaos.servers.toxiproxy_client', 'authchaos_reference.app', 'fakeredis', 'locust')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_no_two_modules_share_a_name_across_packages() -> None:
    names = Counter(p.name for p in _modules() if p.name not in ("__init__.py", "__main__.py"))
    assert [n for n, k in names.items() if k > 1] == []


def test_the_wheel_lists_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(["authchaos", *p.parent.relative_to(ROOT / "harness" / "authchaos").parts])
        for p in (ROOT / "harness" / "authchaos").rglob("__init__.py")
    } | {"authchaos_reference", "authchaos.scenario_files"}
    assert set(config["packages"]) == {n.rstrip(".") for n in on_disk}


def _lint_copy(tmp: Path, edit: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    """import-linter over a copy of the packages with one import added to one module."""
    shutil.copytree(ROOT / "harness", tmp / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "reference_impl", tmp / "reference_impl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    module, line = edit
    path = tmp / "harness" / module
    path.write_text(path.read_text() + f"\n{line}\n")
    env = {"PYTHONPATH": f"{tmp / 'harness'}:{tmp / 'reference_impl'}", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tmp, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_layer_contract_refuses_an_upward_arrow(tmp_path: Path) -> None:
    out = _lint_copy(tmp_path, ("authchaos/record/history.py", "import authchaos.report.html  # upward"))
    assert out.returncode != 0, out.stdout
    assert "Stages import downward only BROKEN" in out.stdout
    assert "authchaos.record.history -> authchaos.report.html" in out.stdout


def test_the_cycle_contract_refuses_a_cycle_inside_a_package(tmp_path: Path) -> None:
    out = _lint_copy(tmp_path, ("authchaos/checks/revocations.py", "import authchaos.checks.token_safety  # cycle"))
    assert out.returncode != 0, out.stdout
    assert "No import cycles inside any package BROKEN" in out.stdout


def test_the_shipped_tree_keeps_every_contract(tmp_path: Path) -> None:
    out = _lint_copy(tmp_path, ("authchaos/record/history.py", "# nothing added"))
    assert out.returncode == 0, out.stdout


def test_the_architecture_page_names_every_module() -> None:
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    modules = {p.stem for p in _modules() if p.stem not in ("__init__", "__main__")}
    assert sorted(m for m in modules if m not in page) == []
