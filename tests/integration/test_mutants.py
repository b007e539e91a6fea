"""The gate's detection power against unseeded bugs: `authchaos prove --mutants` kills every catalogued mutant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authchaos.drivers.mutant_catalogue import load_catalogue
from tests.support import authchaos

pytestmark = pytest.mark.integration


def test_prove_mutants_kills_every_catalogued_mutant_by_its_witness_on_the_first_trial(tmp_path: Path) -> None:
    """The merge-time proof: each mutant against the one scenario written for its class, once (the whole gate
    on three seeds is the nightly proof, `make nightly`). A kill that needs a second trial or another scenario
    fails here: the witness is not deterministic. Bound 1800 s (64 mutants, about 15 s each)."""
    out = authchaos(
        "prove", "--mutants", "--witness-only", "--trials", "1",
        report_dir=tmp_path / "r", env={"AUTHCHAOS_BUGS": ""}, timeout=1800,
    )  # fmt: skip
    table = json.loads((tmp_path / "r" / "latest" / "mutants.json").read_text())
    survivors = [row["mutant"] for row in table if row["verdict"] != "killed"]
    assert survivors == [], out.stdout[-4000:]
    assert {row["mutant"] for row in table} == {m.id for m in load_catalogue()}
    assert all(row["killed_by"]["checks"] for row in table)
    witnesses = {m.id: m.witness for m in load_catalogue()}
    # a proof names each run "<scenario>+<mutant id>"
    assert {row["mutant"]: row["killed_by"]["scenario"].split("+")[0] for row in table} == witnesses
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
