"""The suites a team runs: the gate proves it catches every known bug; the regression reproduces;
the legacy corpus replays as expected against a real service."""

from __future__ import annotations

from pathlib import Path

import pytest

from authchaos.servers.redis_server import RedisServer
from authchaos.sut.service_process import AuthServiceProcess
from authchaos_reference.bugs import KNOWN_BUGS
from tests.support import authchaos

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
NO_BUGS = {"AUTHCHAOS_BUGS": ""}  # the caller's AUTHCHAOS_BUGS must not switch bugs on here


def test_gate_prove_catches_every_known_bug(tmp_path: Path) -> None:
    out = authchaos("gate", "--prove", "--backend", "real", report_dir=tmp_path / "r", env=NO_BUGS, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") >= 3}
    assert "passes" in rows["(none: fixed service)"]
    for bug in KNOWN_BUGS:
        assert "caught" in rows[bug], rows.get(bug, out.stdout[-3000:])


def test_repro_invalid_token_type_is_red_with_the_bug_and_green_without(tmp_path: Path) -> None:
    out = authchaos(
        "repro", "invalid-token-type", "--backend", "real", report_dir=tmp_path / "r", env=NO_BUGS, timeout=600
    )
    assert out.returncode == 0, out.stdout[-3000:]
    lines = out.stdout.splitlines()
    buggy = next(line for line in lines if "buggy (legacy_fallback_tokens)" in line)
    fixed = next(line for line in lines if line.strip("│ ").startswith("fixed"))
    assert "red" in buggy and "no_false_rejections" in buggy
    assert "green" in fixed
    assert "reproduced: red with the bug, green without" in out.stdout


def test_legacy_corpus_replays_as_expected_and_bad_files_are_named(tmp_path: Path, fresh_redis: RedisServer) -> None:
    corpus = REPO / "scenarios" / "legacy" / "corpus.jsonl"
    # Development keys, as the shipped corpus. Its tokens were issued on 2026-01-01: with an absolute session
    # lifetime they would all be past it, so this replay of shapes runs without one (AUTHCHAOS_SESSION_MAX_S=0).
    env = {"AUTHCHAOS_SESSION_MAX_S": "0"}
    with AuthServiceProcess(fresh_redis.url, env=env) as service:
        out = authchaos("replay-tokens", str(corpus), "--target", service.url, env=NO_BUGS)
        assert out.returncode == 0, out.stdout
        assert "10 as expected, 0 unexpected" in out.stdout
    bad = tmp_path / "captured.jsonl"
    bad.write_text(corpus.read_text().splitlines()[0] + "\n{oops\n")
    out = authchaos("replay-tokens", str(bad), "--target", "http://127.0.0.1:9", env=NO_BUGS)
    assert out.returncode == 2 and f"{bad}:2: not valid JSON" in out.stderr and out.stderr.count("\n") == 1
