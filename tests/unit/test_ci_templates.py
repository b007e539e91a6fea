"""The CI templates a team copies (examples/ci): valid for their CI, linted, and calling commands that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import authchaos

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
TEMPLATES = {"github-actions.yml": "vendor.github-workflows", "gitlab-ci.yml": "vendor.gitlab-ci"}
ACTIONLINT = shutil.which("actionlint") or str(Path(__file__).resolve().parents[2] / ".tools" / "bin" / "actionlint")


def validate(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    """check-jsonschema's own copy of the published schema: works offline."""
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("name", "schema"), TEMPLATES.items())
def test_each_template_validates_against_its_ci_schema(name: str, schema: str) -> None:
    done = validate(CI / name, schema)
    assert done.returncode == 0 and "validation done" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(("name", "schema", "typo"), [
    ("github-actions.yml", "vendor.github-workflows", ("runs-on:", "run-on:")),
    ("gitlab-ci.yml", "vendor.gitlab-ci", ("when: always", "when: allways")),
])  # fmt: skip
def test_a_broken_template_is_caught(name: str, schema: str, typo: tuple[str, str], tmp_path: Path) -> None:
    broken = tmp_path / name
    broken.write_text((CI / name).read_text().replace(*typo, 1))
    assert validate(broken, schema).returncode == 1


def test_the_workflow_passes_actionlint() -> None:
    if not Path(ACTIONLINT).is_file():
        pytest.skip("actionlint not installed (make setup installs it into .tools/bin when Go is here)")
    done = subprocess.run([ACTIONLINT, str(CI / "github-actions.yml")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_templates_call_commands_and_options_that_exist(name: str) -> None:
    """A template that calls a flag authchaos does not have would fail in every team's first pipeline."""
    calls = re.findall(r"\bauthchaos (\w[\w-]*)((?: --?[\w-]+(?: \"?[^\s\"]+\"?)?)*)", (CI / name).read_text())
    commands = {c for c, _ in calls}
    assert {"doctor", "gate"} <= commands, calls
    for command, args in calls:
        helptext = authchaos(command, "--help").stdout
        for flag in re.findall(r"--[\w-]+", args):
            assert flag in helptext, f"{name}: authchaos {command} has no {flag}"
    text = (CI / name).read_text()
    assert "junit.xml" in text and "reports/" in text  # the test report and the HTML artifact, always published
