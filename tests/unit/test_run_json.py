"""Reading a run.json back for replay: a good one gives the stored scenarios and seeds; a bad one, one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authchaos.report.run_json import RUN_JSON_FIX, RunFileError, read_run
from authchaos.scenario.schema import parse_scenario


def stored(name: str, seed: int) -> dict[str, Any]:
    """A scenario entry as run_dict writes it (definition dumped by alias, seed beside it)."""
    definition = {"name": name, "faults": [{"at": 1, "for": 1, "fault": {"kind": "blackhole"}}]}
    scenario = parse_scenario(definition, "test").model_dump(mode="json", by_alias=True)
    return {"name": name, "seed": seed, "scenario": scenario, "verdict": "pass"}


def write_run(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "run.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_good_run_json_gives_every_scenario_with_its_stored_seed(tmp_path: Path) -> None:
    path = write_run(tmp_path, {"authchaos": "0.1.0", "scenarios": [stored("alpha", 7), stored("beta", 99)]})
    run = read_run(path)
    assert run.names == ["alpha", "beta"]
    scenarios = run.scenarios()
    assert [(s.name, s.seed) for s in scenarios] == [("alpha", 7), ("beta", 99)]
    assert scenarios[0].fault_kinds == ["blackhole"]
    assert scenarios[0].source == f"{path}:alpha"
    assert [(s.name, s.seed) for s in run.scenarios("beta")] == [("beta", 99)]


def test_a_file_that_is_not_json_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = write_run(tmp_path, "<html>not json</html>")
    with pytest.raises(RunFileError) as err:
        read_run(path)
    message = str(err.value)
    assert message.startswith(f"{path} is not an authchaos run.json (JSONDecodeError")
    assert RUN_JSON_FIX in message and "\n" not in message


BAD_SEED = "scenarios[0] (alpha) has no integer 'seed'"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ([1, 2, 3], "no 'scenarios' list at the top"),
        ({"scenarios": {"alpha": {}}}, "no 'scenarios' list at the top"),
        ({"scenarios": [{"seed": 1, "scenario": {}}]}, "scenarios[0] has no 'name'"),
        ({"scenarios": [{"name": "alpha", "seed": "7", "scenario": {}}]}, BAD_SEED),
        ({"scenarios": [{"name": "alpha", "seed": True, "scenario": {}}]}, BAD_SEED),
        ({"scenarios": [{"name": "alpha", "seed": 7}]}, "scenarios[0] (alpha) has no 'scenario' definition"),
    ],
)
def test_a_json_of_the_wrong_shape_says_what_is_missing(tmp_path: Path, content: object, fragment: str) -> None:
    path = write_run(tmp_path, content)
    with pytest.raises(RunFileError) as err:
        read_run(path)
    assert str(err.value) == f"{path} is not an authchaos run.json ({fragment}); {RUN_JSON_FIX}"


def test_an_unknown_scenario_name_lists_the_ones_there(tmp_path: Path) -> None:
    path = write_run(tmp_path, {"scenarios": [stored("alpha", 7), stored("beta", 99)]})
    with pytest.raises(RunFileError) as err:
        read_run(path).scenarios("gamma")
    assert str(err.value) == f"no scenario named 'gamma' in {path} (it has: alpha, beta)"


def test_a_run_without_scenarios_is_an_error_not_an_empty_replay(tmp_path: Path) -> None:
    path = write_run(tmp_path, {"scenarios": []})
    with pytest.raises(RunFileError, match="no scenarios in"):
        read_run(path).scenarios()


def test_a_stored_definition_that_no_longer_validates_names_scenario_and_field(tmp_path: Path) -> None:
    broken = {**stored("beta", 99), "scenario": {"name": "beta", "workload": {"clients": 0}}}
    path = write_run(tmp_path, {"scenarios": [stored("alpha", 7), broken]})
    run = read_run(path)
    assert [s.name for s in run.scenarios("alpha")] == ["alpha"]  # only what is replayed must validate
    with pytest.raises(RunFileError, match=r"run\.json:beta: workload\.clients"):
        run.scenarios()


def test_an_unreadable_path_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match=r"^cannot read .*missing\.json: No such file"):
        read_run(tmp_path / "missing.json")
