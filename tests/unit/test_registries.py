"""Every list derives from one registry: a new fault, checker or operation cannot be half-registered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authchaos.checks import CHECKERS, check_names
from authchaos.checks.expectations import Expectations
from authchaos.faults.embedded import EmbeddedNemesis
from authchaos.faults.fault_spec import EMULATED, FAULT_CLASSES, FAULT_KINDS, FaultBase
from authchaos.run.load_spec import LoadOptions, load_scenario
from authchaos.sut.bug_switches import KNOWN_BUGS
from authchaos.sut.reference_service import memory_server
from authchaos.workload.operations import OPERATIONS
from authchaos.workload.workload_spec import Workload

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _table(heading: str) -> set[str]:
    """First-column names (in backticks) of the README table under ``heading``."""
    section = README.split(heading, 1)[1]
    names = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if m := re.match(r"\| `([a-z_]+)`", line):
            names.append(m.group(1))
    return set(names)


def _overrides(cls: type[FaultBase], method: str) -> bool:
    return getattr(cls, method) is not getattr(FaultBase, method)


@pytest.mark.parametrize("cls", FAULT_CLASSES, ids=lambda c: c.__name__)
def test_every_fault_says_how_the_real_backend_produces_it(cls: type[FaultBase]) -> None:
    fields = {name: 1 for name, f in cls.model_fields.items() if f.is_required()}
    fault = cls(**fields)
    produces = fault.toxics("t") or _overrides(cls, "start_real")
    assert produces, f"{cls.__name__}: declare toxics() or start_real()"
    if fault.toxics("t"):
        assert all(s.name.startswith("t-") and s.stream in ("upstream", "downstream") for s in fault.toxics("t"))


def test_the_embedded_backend_supports_exactly_what_faults_declare() -> None:
    nemesis = EmbeddedNemesis(memory_server("registry-test"))
    for cls in FAULT_CLASSES:
        fields = {name: 1 for name, f in cls.model_fields.items() if f.is_required()}
        kind = cls.model_fields["kind"].default
        assert nemesis.supports(cls(**fields)) == (kind in EMULATED) == (cls.emulation is not None)
    assert set(EMULATED) < set(FAULT_KINDS)


def test_every_checker_is_known_to_scenarios_load_runs_and_the_readme() -> None:
    assert Expectations().checks == list(check_names())
    assert set(check_names()) == set(CHECKERS)
    load_checks = load_scenario(LoadOptions()).expect.checks
    assert set(load_checks) == {n for n, c in CHECKERS.items() if c.load}
    assert _table("### Checks") == set(CHECKERS), "the README's check table must list exactly the checkers"


def test_every_operation_is_accepted_in_a_mix_and_nothing_else() -> None:
    Workload(mix=dict.fromkeys(OPERATIONS, 1.0))
    with pytest.raises(ValueError, match="unknown operation 'teleport'"):
        Workload(mix={"teleport": 1.0})


def test_every_bug_switch_is_documented() -> None:
    assert _table("### Known-bug switches") == set(KNOWN_BUGS)


def test_every_bug_switch_names_the_checks_that_catch_it() -> None:
    from authchaos.sut.bug_switches import SWITCHES, SYMPTOMS

    assert set(SYMPTOMS) == set(SWITCHES) == set(KNOWN_BUGS)
    assert all(checks and set(checks) <= set(CHECKERS) for checks in SYMPTOMS.values())


def test_every_operation_is_documented() -> None:
    documented = set()
    for line in README.split("### Workload operations", 1)[1].split("\n\n")[2].splitlines()[2:]:
        documented |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    assert documented == set(OPERATIONS)
