"""The mutant catalogues stay applicable: every entry applies once to today's code (the reference package, and the
Node service through its contract) and still compiles or parses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from authchaos.drivers.mutant_catalogue import (
    PACKAGE,
    Mutant,
    MutantError,
    MutantTarget,
    apply,
    load_catalogue,
    target_for,
)
from authchaos.record.service_contract import load_contract
from authchaos.sut.reference_service import source_dir

ROOT = Path(__file__).resolve().parents[2]
NODE = load_contract(ROOT / "examples" / "node-service" / "contract.yaml")
NODE_TARGET = target_for(NODE)
NODE_MUTANTS = load_catalogue(NODE_TARGET.catalogue)

INVARIANTS = {
    "rotation atomicity",
    "reuse revokes the family",
    "revocations of refresh tokens and families stick",
    "blacklist lifetime",
    "logout",
    "the degraded window and local revocations",
    "fail-open paths",
    "key and type separation",
    "expiry",
    "legacy tokens exchanged once",
    "partial batch writes",
}
MUTANTS = load_catalogue()


def test_the_catalogue_covers_every_invariant() -> None:
    assert len(MUTANTS) >= 12
    assert {m.invariant for m in MUTANTS} >= INVARIANTS


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_each_mutant_applies_to_a_copy_and_leaves_the_tree_alone(mutant: Mutant, tmp_path: Path) -> None:
    original = (source_dir() / mutant.file).read_text()
    code_dir = apply(mutant, tmp_path).code_dir
    assert code_dir is not None
    mutated = (code_dir / PACKAGE / mutant.file).read_text()
    assert mutated != original and mutant.replace in mutated
    assert (source_dir() / mutant.file).read_text() == original


def test_a_stale_entry_is_named_with_the_fix(tmp_path: Path) -> None:
    stale = Mutant(
        id="gone", invariant="expiry", file="jwt_codec.py", find="text that is not there", replace="x", why="w"
    )
    found = r"mutant gone: its text is not found in jwt_codec\.py; update find/replace in .*catalogue\.yaml"
    with pytest.raises(MutantError, match=found):
        apply(stale, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("mutants: [{id: X, invariant: expiry}]\n")
    with pytest.raises(MutantError, match=r"bad\.yaml"):
        load_catalogue(bad)


def test_the_node_catalogue_is_found_through_the_contract() -> None:
    assert NODE_TARGET.catalogue == ROOT / "examples" / "node-service" / "mutants.yaml"
    assert len(NODE_MUTANTS) >= 8
    assert len({m.invariant for m in NODE_MUTANTS}) >= 5


@pytest.mark.parametrize("mutant", NODE_MUTANTS, ids=lambda m: m.id)
def test_each_node_mutant_applies_to_a_copy_of_the_service(mutant: Mutant, tmp_path: Path) -> None:
    original = (NODE.root / mutant.file).read_text()
    applied = apply(mutant, tmp_path, NODE_TARGET)
    assert applied.contract is not None and applied.code_dir is None
    copy = load_contract(applied.contract)
    assert copy.root != NODE.root and copy.operations == NODE.operations
    mutated = (copy.root / mutant.file).read_text()
    assert mutated != original and mutant.replace in mutated
    assert (NODE.root / mutant.file).read_text() == original
    if (NODE.root / "node_modules").is_dir():  # linked, never copied: a mutant cannot change a dependency
        assert (copy.root / "node_modules").is_symlink()


def test_a_mutant_that_breaks_the_syntax_is_an_error_not_a_kill(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: JavaScript mutants are checked with node --check")
    broken = Mutant(
        id="typo",
        invariant="expiry",
        file="src/server.js",
        find=(NODE.root / "src" / "server.js").read_text().splitlines()[-1],
        replace="function (",
        why="w",
    )
    with pytest.raises(MutantError, match=r"mutant typo: the mutated src/server.js does not parse"):
        apply(broken, tmp_path, NODE_TARGET)


def test_a_contract_without_mutants_and_paths_outside_the_service_are_refused(tmp_path: Path) -> None:
    bare = NODE.model_copy(update={"mutants": None})
    bare.source = NODE.source
    with pytest.raises(MutantError, match=r"declares no mutants: add `mutants: FILE`"):
        target_for(bare)
    reference = target_for(None)
    assert reference.contract is None and reference.catalogue.name == "catalogue.yaml"  # the built-in one
    with pytest.raises(ValueError, match=r"relative, no '\.\.'"):
        Mutant(id="x", invariant="expiry", file="../../etc/passwd", find="a", replace="b", why="w")


def test_a_mutant_of_a_linked_dependency_is_refused_and_the_dependency_left_alone(tmp_path: Path) -> None:
    service = tmp_path / "svc"
    (service / "node_modules" / "dep").mkdir(parents=True)
    (service / "node_modules" / "dep" / "index.js").write_text("module.exports = 1;\n")
    (service / "contract.yaml").write_text((NODE.root / "contract.yaml").read_text())
    contract = load_contract(service / "contract.yaml")
    target = MutantTarget(service / "mutants.yaml", contract)
    sneaky = Mutant(id="dep", invariant="expiry", file="node_modules/dep/index.js", find="= 1", replace="= 2", why="w")
    with pytest.raises(MutantError, match="is not the service's own code"):
        apply(sneaky, tmp_path / "into", target)
    assert (service / "node_modules" / "dep" / "index.js").read_text() == "module.exports = 1;\n"


def test_every_named_witness_is_a_scenario_of_the_full_gate() -> None:
    """prove runs a mutant's witness first: a name that matches no gate scenario would silently run nothing first."""
    from authchaos.scenario.catalog import Catalog

    gate = {s.name for s in Catalog.load().select(["gate", "gate-full"])}
    named = {m.witness for m in [*MUTANTS, *NODE_MUTANTS] if m.witness}
    assert named and named <= gate, named - gate


def test_every_reference_mutant_names_its_witness() -> None:
    """CI proves the reference catalogue witness-only: a mutant without a witness would need the whole gate there."""
    assert [m.id for m in MUTANTS if not m.witness] == []
