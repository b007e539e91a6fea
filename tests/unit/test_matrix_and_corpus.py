"""The network matrix expands from one definition; the legacy corpus round-trips and rejects bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authchaos.scenario.catalog import builtin_dir, load_scenarios
from authchaos.scenario.schema import ScenarioError
from authchaos.sut.reference_service import token_keys
from authchaos.workload.legacy_corpus import CorpusError, build_corpus, read_corpus, write_corpus
from authchaos_reference.config import DEV_ACCESS_SECRET, DEV_REFRESH_SECRET

DEV_KEYS = {"AUTHCHAOS_JWT_ACCESS_SECRET": DEV_ACCESS_SECRET, "AUTHCHAOS_JWT_REFRESH_SECRET": DEV_REFRESH_SECRET}


def test_matrix_expands_every_fault_against_every_path() -> None:
    cells = load_scenarios(builtin_dir() / "network" / "matrix.yaml")
    assert len(cells) == 66
    names = {c.name for c in cells}
    assert "net-blackhole-refresh" in names and "net-slicer-blacklist_batch" in names
    by_name = {c.name: c for c in cells}
    outage = by_name["net-down-logout"].expect.status[0]
    assert (outage.op, outage.phase, outage.allowed) == ("logout", "during", [200, 503])
    healthy = by_name["net-latency-50-refresh"].expect.status[0]
    assert healthy.allowed == [200]
    assert by_name["net-blackhole-me"].faults[0].fault.kind == "blackhole"
    assert by_name["net-blackhole-me"].workload.clients == 3  # from the template


def test_matrix_errors_name_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "matrix:\n  faults: {x: {class: nope, fault: {kind: down}}}\n  paths: {me: {mix: {me: 1}}}\n"
        "  policy: {}\n  template: {}\n"
    )
    with pytest.raises(ScenarioError, match=r"matrix.faults.x: class 'nope' has no matrix.policy entry"):
        load_scenarios(path)
    path.write_text(
        "matrix:\n  faults: {x: {class: c, fault: {kind: latency}}}\n  paths: {me: {mix: {me: 1}}}\n"
        "  policy: {c: {me: [200]}}\n  template: {}\n"
    )
    with pytest.raises(ScenarioError, match=r"m.yaml\[x x me\]: faults\[0\].fault.ms: Field required"):
        load_scenarios(path)


def test_corpus_is_deterministic_for_the_same_keys(tmp_path: Path) -> None:
    keys = token_keys({**DEV_KEYS, "AUTHCHAOS_JWT_REFRESH_RETIRED_SECRETS": "r" * 40})
    first, second = build_corpus(keys), build_corpus(keys)
    assert [e.token for e in first] == [e.token for e in second]
    assert "retired-kid" in {e.shape for e in first}
    path = tmp_path / "c.jsonl"
    write_corpus(first, path)
    assert [e.token for e in read_corpus(path)] == [e.token for e in first]


def test_shipped_corpus_matches_the_development_keys() -> None:
    shipped = read_corpus(builtin_dir() / "legacy" / "corpus.jsonl")
    fresh = build_corpus(token_keys(DEV_KEYS))
    assert [e.token for e in shipped] == [e.token for e in fresh], "regenerate with: authchaos legacy-corpus --out"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{not json", ":2: not valid JSON"),
        ('["a list"]', ":2: each line must be a JSON object"),
        ('{"endpoint": "refresh", "expect": [{"status": 200}]}', ":2: 'token' must be a str"),
        (
            '{"token": "t", "endpoint": "logout", "expect": [{"status": 200}]}',
            ":2: 'endpoint' must be 'refresh' or 'me'",
        ),
        ('{"token": "t", "endpoint": "me", "expect": [{"code": 1}]}', ":2: 'expect' must be a list of objects"),
    ],
)
def test_malformed_corpus_lines_are_named(tmp_path: Path, line: str, fragment: str) -> None:
    good = json.dumps({"token": "t", "endpoint": "me", "expect": [{"status": 200}]})
    path = tmp_path / "mine.jsonl"
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(CorpusError) as err:
        read_corpus(path)
    assert str(err.value).startswith(str(path)) and fragment in str(err.value)
