"""The mutant catalogue stays applicable: every entry applies once to today's reference_impl and compiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from authchaos.drivers.mutant_catalogue import PACKAGE, Mutant, MutantError, apply, load_catalogue
from authchaos.sut.reference_service import source_dir

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
    code_dir = apply(mutant, tmp_path)
    mutated = (code_dir / PACKAGE / mutant.file).read_text()
    assert mutated != original and mutant.replace in mutated
    assert (source_dir() / mutant.file).read_text() == original


def test_a_stale_entry_is_named_with_the_fix(tmp_path: Path) -> None:
    stale = Mutant(
        id="gone", invariant="expiry", file="jwt_codec.py", find="text that is not there", replace="x", why="w"
    )
    with pytest.raises(MutantError, match=r"mutant gone: its text is not found in authchaos_reference/jwt_codec.py"):
        apply(stale, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("mutants: [{id: X, invariant: expiry}]\n")
    with pytest.raises(MutantError, match=r"bad\.yaml"):
        load_catalogue(bad)
