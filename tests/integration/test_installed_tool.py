"""The installed tool, as a user gets it: the wheel built from this checkout, pip-installed with ``[load]`` into
a fresh venv outside the checkout, every command run from a directory that is not a checkout.

Built and installed once per module (~25 s with a warm pip cache); the commands then take ~4 min, most of it
the proof of one bug switch (the gate twice on the real backend, ~2 min) and the embedded gate (~1 min).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from authchaos.servers.binaries import BinaryMissing, find_toxiproxy_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USER_PROJECT = ROOT / "tests" / "fixtures" / "user_project"
QUICK_SWITCH = "missing_batch_blacklist"  # each switch runs the whole gate; this one adds no timeouts to sit out
TOP_LEVEL_IGNORED = {"build", "dist", "reports"}  # build output and run reports of the checkout: not sources


@dataclass
class Ran:
    argv: Sequence[str]
    cwd: Path
    returncode: int
    stdout: str
    stderr: str

    def describe(self, limit: int = 6000) -> str:
        return (
            f"$ {' '.join(map(str, self.argv))}  (in {self.cwd}) -> exit {self.returncode}\n"
            f"--- stdout (last {limit} chars) ---\n{self.stdout[-limit:]}\n"
            f"--- stderr (last {limit} chars) ---\n{self.stderr[-limit:]}"
        )

    def expect(self, code: int = 0) -> Ran:
        assert self.returncode == code, f"expected exit {code}\n{self.describe()}"
        return self


def run(argv: Sequence[str | Path], *, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> Ran:
    """One bounded command in its own process group: on timeout Ctrl-C (the harness rolls back and stops its
    servers), then SIGKILL; the test fails with what the command printed."""
    args = [str(a) for a in argv]
    with subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            ran = Ran(args, cwd, proc.returncode, out, err)
            pytest.fail(f"timed out after {timeout:.0f}s\n{ran.describe()}", pytrace=False)
    return Ran(args, cwd, proc.returncode, out, err)


def _outside_checkout(path: Path) -> bool:
    return not path.resolve().is_relative_to(ROOT)


def _copy_sources(dest: Path) -> Path:
    """The checkout as it is now, without its venv, tools, caches or earlier build output (a stale build/lib
    would end up in the wheel), so the build writes nothing into the checkout."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder).resolve() == ROOT
        return {
            n
            for n in names
            if n.startswith(".") or n == "__pycache__" or n.endswith(".egg-info") or (top and n in TOP_LEVEL_IGNORED)
        }

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    if importlib.util.find_spec("build") is None:
        pytest.fail("the 'build' package is missing from this venv: run 'make setup' (it is in the dev extra)")
    base = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(base / "src")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", base / "dist", src], cwd=base, timeout=300).expect(0)
    (built,) = sorted((base / "dist").glob("authchaos-*.whl"))
    return built


@dataclass
class Installed:
    venv: Path
    work: Path  # the working directory of every command: outside the checkout, no scenarios/ of its own
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def authchaos(self, *args: str | Path, timeout: float = 60) -> Ran:
        return run([self.bin / "authchaos", *args], cwd=self.work, env=self.env, timeout=timeout)


def _user_env(venv_dir: Path) -> dict[str, str]:
    """This environment minus whatever points into the checkout or steers authchaos; the venv first on PATH.
    Outside a checkout .tools/bin is not searched, so toxiproxy-server comes as TOXIPROXY_BIN."""
    try:
        toxiproxy = find_toxiproxy_server()
    except BinaryMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AUTHCHAOS_")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and _outside_checkout(Path(p))]
    env["PATH"] = os.pathsep.join([str(venv_dir / "bin"), *path])
    env["TOXIPROXY_BIN"] = str(toxiproxy.resolve())
    env["COLUMNS"] = "200"  # rich tables: whole names in the captured output
    return env


@pytest.fixture(scope="module")
def tool(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    assert _outside_checkout(base), f"{base} is inside the checkout: set --basetemp elsewhere"
    venv_dir = base / "venv"
    env = _user_env(venv_dir)
    run([sys.executable, "-m", "venv", venv_dir], cwd=base, env=env, timeout=180).expect(0)
    pip: list[str | Path] = [venv_dir / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run([*pip, f"{wheel}[load]", "pytest"], cwd=base, env=env, timeout=600).expect(0)
    work = base / "work"
    work.mkdir()
    return Installed(venv_dir, work, env)


def _user_scenario(dest: Path) -> Path:
    """A built-in scenario, copied and renamed the way a user starts their own."""
    text = (ROOT / "scenarios" / "gate" / "reuse-grace.yaml").read_text()
    renamed, count = re.subn(r"^name: .*$", "name: user-reuse-grace", text, count=1, flags=re.M)
    assert count == 1, "scenarios/gate/reuse-grace.yaml has no top-level name: line"
    dest.write_text(renamed)
    return dest


def test_wheel_ships_the_package_data_and_only_the_installed_names(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    top = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"authchaos", "authchaos_reference"}, sorted(top)  # no harness/, reference_impl/
    scenario_files = [
        p.relative_to(ROOT / "scenarios").as_posix()
        for p in (ROOT / "scenarios").rglob("*")
        if p.suffix in (".yaml", ".jsonl") or p.name == "locustfile.py"
    ]
    assert any(f.startswith("gate/") and f.endswith(".yaml") for f in scenario_files)
    for required in ("load/locustfile.py", "legacy/corpus.jsonl", *scenario_files):
        assert f"authchaos/scenario_files/{required}" in names, f"{required} is not in {wheel.name}"
    assert "authchaos/drivers/catalogue.yaml" in names
    assert re.search(r"^authchaos = authchaos\.cli:main$", entry_points, re.M), entry_points
    assert re.search(r"^authchaos = authchaos\.pytest_plugin$", entry_points, re.M), entry_points


def test_help_list_and_doctor(tool: Installed, tmp_path: Path) -> None:
    assert "Chaos-resilience harness" in tool.authchaos("--help").expect(0).stdout
    listed = tool.authchaos("list").expect(0).stdout
    assert "gate-baseline" in listed and "scenario_files" in listed  # the built-in ones, from site-packages
    mine = tmp_path / "mine"
    mine.mkdir()
    _user_scenario(mine / "mine.yaml")
    with_mine = tool.authchaos("list", "--scenarios-dir", mine).expect(0).stdout
    assert "gate-baseline" in with_mine and "user-reuse-grace" in with_mine
    doctor = " ".join(tool.authchaos("doctor").stdout.split())
    assert re.search(r"ok │ locust \(authchaos load\) │ \d+\.\d+", doctor), doctor


def test_gate_on_the_embedded_backend_passes(tool: Installed) -> None:
    gate = tool.authchaos("gate", "--backend", "embedded", timeout=300)
    if gate.returncode == 1:
        # One retry, said out loud: the embedded gate has a known rare false red (issue 21: a session lost after
        # its refresh timed out at a blackhole's start). This test is about the installed tool, not that race.
        print(f"embedded gate failed once; retrying:\n{gate.stdout[-3000:]}")
        gate = tool.authchaos("gate", "--backend", "embedded", timeout=300)
    gate.expect(0)
    assert "backend: embedded" in gate.stdout, gate.describe()
    verdicts = re.findall(r"^([A-Z]+) +(gate-\S+) \(embedded", gate.stdout, re.M)  # one line per scenario
    assert ("PASS", "gate-baseline") in verdicts and {v for v, _ in verdicts} == {"PASS"}, gate.describe()
    assert (tool.work / "reports" / "latest" / "run.json").is_file(), gate.describe()


def test_run_a_scenario_file_by_path(tool: Installed) -> None:
    scenario = _user_scenario(tool.work / "user-reuse-grace.yaml")
    ran = tool.authchaos("run", scenario, "--backend", "real", timeout=180).expect(0)
    assert re.search(r"^PASS +user-reuse-grace \(real", ran.stdout, re.M), ran.describe()


def test_load_smoke_on_the_real_backend(tool: Installed) -> None:
    missing = tool.authchaos("load", "--locustfile", tool.work / "nope.py")
    missing.expect(2)
    assert missing.stderr.strip().count("\n") == 0 and "--locustfile" in missing.stderr, missing.describe()
    ran = tool.authchaos("load", "--profile", "smoke", "--backend", "real", timeout=300).expect(0)
    assert "PASS load-smoke" in ran.stdout, ran.describe()


def test_prove_one_switch(tool: Installed) -> None:
    unknown = tool.authchaos("prove", "--switches", "--only", "no-such-bug")
    unknown.expect(2)
    assert unknown.stderr.strip().count("\n") == 0 and QUICK_SWITCH in unknown.stderr, unknown.describe()
    ran = tool.authchaos("prove", "--switches", "--only", QUICK_SWITCH, timeout=480).expect(0)
    rows = re.findall(r"^│ (\S.*?) +│", ran.stdout, re.M)
    assert rows == ["(none: fixed service)", QUICK_SWITCH], ran.describe()  # that switch only, and the fixed row
    assert re.search(rf"{QUICK_SWITCH} +│ [^│]+│ caught", ran.stdout), ran.describe()


def test_pytest_plugin_in_a_project_with_its_own_harness_package(tool: Installed, tmp_path: Path) -> None:
    project = tmp_path / "user_project"
    shutil.copytree(USER_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    ran = run(
        [tool.bin / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--authchaos-backend", "real"],
        cwd=project,
        env=tool.env,
        timeout=180,
    ).expect(0)
    assert re.search(r"\b3 passed\b", ran.stdout), ran.describe()
