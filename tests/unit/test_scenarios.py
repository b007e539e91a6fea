"""Scenario files: every shipped one is valid, and a bad one gets an error naming file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from authchaos.scenario.catalog import Catalog
from authchaos.scenario.schema import ScenarioError, load_scenario


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_shipped_scenario_loads_and_has_a_gate_suite() -> None:
    catalog = Catalog.load()
    assert len(catalog.scenarios) >= 70
    assert catalog.select(["gate"]), "the gate suite must not be empty"
    assert {s.name for s in catalog.select(["gate-baseline", "network"])} >= {"gate-baseline", "net-blackhole-me"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\nworkload: {clients: 0}\n", "workload.clients: Input should be greater than or equal to 1"),
        ("name: x\nfaults: [{at: 1, for: 1, fault: {kind: lightning}}]\n", "faults[0].fault"),
        ("name: x\nfaults: [{at: 1, fault: {kind: latency}}]\n", "faults[0].fault.ms: Field required"),
        ("name: x\nworkload: {duration_s: 5}\nfaults: [{at: 4, for: 3, fault: {kind: down}}]\n", "ends at 7s"),
        ("name: x\nservice: {bugs: [nope]}\n", "unknown bug switch nope; known:"),
        ("name: x\nexpect: {checks: [vibes]}\n", "unknown check vibes"),
        ("name: x\nworkload: {mix: {dance: 1}}\n", "workload.mix.dance"),
        ("name: x\nsurprise: 1\n", "surprise: unknown key 'surprise' (remove it)"),
        ("name: x\nworkloda: {clients: 2}\n", "workloda: unknown key 'workloda': did you mean 'workload'?"),
        (  # suggestions come from the keys allowed there, not from anywhere in the format
            "name: x\nfaults: [{at: 1, for: 1, fault: {kind: latency, nmae: 2, ms: 3}}]\n",
            "faults[0].fault.nmae: unknown key 'nmae' (remove it); allowed here: direction, jitter_ms, kind, ms",
        ),
        ("name: x\nservice: {redis: {topolgy: single}}\n", "unknown key 'topolgy': did you mean 'topology'?"),
        (  # the typo is named first, not the field it left missing
            "name: x\nfaults: [{at: 1, for: 1, fault: {kind: latency, msec: 200}}]\n",
            "faults[0].fault.msec: unknown key 'msec': did you mean 'ms'? (and 1 more)",
        ),
        (  # slower than this may be past a service's command timeout: an outage, not a slow Redis
            "name: x\nfaults: [{at: 1, for: 1, fault: {kind: slow_redis, ms: 900}}]\n",
            "faults[0].fault.ms: Input should be less than or equal to 500",
        ),
        (  # a slow Redis is healthy only well inside the command timeout, which the scenario must therefore set
            "name: x\nfaults: [{at: 1, for: 1, fault: {kind: slow_redis, ms: 100, jitter_ms: 50}}]\n",
            "slow_redis of up to 150 ms needs service.env AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S of at least 0.3",
        ),
        (
            "name: x\nservice: {accounts: 2, contract: node.yaml}\n",
            "accounts: the harness manages only the reference service's users file",
        ),
        ("name: Bad Name\n", "name: String should match pattern"),
        ("- just\n- a list\n", "a scenario must be a mapping"),
        ("name: x\n  bad: indentation\n", "is not valid YAML"),
    ],
)
def test_bad_scenario_files_name_the_file_and_field(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert message.startswith(str(path)) and fragment in message, message
    assert "\n" not in message


def test_duplicate_names_and_unknown_selectors(tmp_path: Path) -> None:
    write(tmp_path, "name: same\n", "a.yaml")
    write(tmp_path, "name: same\n", "b.yaml")
    with pytest.raises(ScenarioError, match="already used"):
        Catalog.load(tmp_path)
    (tmp_path / "b.yaml").unlink()
    with pytest.raises(ScenarioError, match="no scenario or tag named 'ghost'"):
        Catalog.load(tmp_path).select(["ghost"])


def test_fault_event_aliases_and_defaults(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "name: x\nfaults: [{at: 2, for: 3, fault: {kind: latency, ms: 50}}]\n"))
    ev = s.faults[0]
    assert (ev.at_s, ev.for_s, ev.fault.kind) == (2, 3, "latency")
    assert s.expect.checks[0] == "steady_state" and s.seed == 1
