"""Contracts end to end: a service that answers 404 is never green, and the original Node service (Express,
ioredis, jsonwebtoken) is gated, checked and made to show its headline bug through its own contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from authchaos.record.service_contract import load_contract
from authchaos.run.infrastructure import InfraOptions, Infrastructure
from authchaos.sut.command_service import CommandService

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "examples" / "node-service" / "contract.yaml"
NOT_FOUND = ROOT / "tests" / "fixtures" / "not_found_service" / "contract.yaml"
needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node/npm not installed: the Node service needs Node.js 20 and npm (make setup runs npm ci)",
)


def authchaos(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}  # one table row per line, so a cell reads whole
    return subprocess.run(
        [sys.executable, "-m", "authchaos", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_a_service_that_answers_404_is_red_by_conformance(tmp_path: Path) -> None:
    scenario = tmp_path / "forced.yaml"
    scenario.write_text(
        "name: forced-through\nsteady_state: {probes: []}\n"
        "workload: {clients: 2, duration_s: 2, mix: {me: 5, refresh: 3, login: 1}}\n"
    )
    out = authchaos("run", scenario, "--contract", NOT_FOUND, "--backend", "real", "--report-dir", tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "contract_conformance" in out.stdout
    run = (tmp_path / "latest" / "run.json").read_text()
    assert "404 no declared error code" in run and "login never succeeded" in run


def test_not_healthy_to_begin_with_names_the_probe(tmp_path: Path) -> None:
    out = authchaos("run", "gate-baseline", "--contract", NOT_FOUND, "--backend", "real", "--report-dir", tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "not healthy to begin with" in out.stdout and "login (POST /auth/login): 404" in out.stdout


@needs_node
def test_contract_check_passes_on_the_node_service_and_names_a_wrong_declaration(tmp_path: Path) -> None:
    contract = load_contract(NODE)
    secrets = {"AUTHCHAOS_JWT_ACCESS_SECRET": "a" * 40, "AUTHCHAOS_JWT_REFRESH_SECRET": "r" * 40}
    with Infrastructure(InfraOptions(backend="real")) as infra:
        service = CommandService(contract, infra.service_redis_url, secrets).start()
        try:
            good = authchaos("contract", "check", "--target", service.url, "--contract", NODE)
            wrong = tmp_path / "wrong.yaml"
            wrong.write_text(NODE.read_text().replace("body:data.refreshToken", "body:data.refresh_token"))
            bad = authchaos("contract", "check", "--target", service.url, "--contract", wrong)
        finally:
            service.stop()
    assert good.returncode == 0, good.stdout + good.stderr
    assert bad.returncode == 1 and "without the declared refresh_token" in bad.stdout, bad.stdout


@needs_node
def test_the_node_service_passes_the_baseline_through_its_contract(tmp_path: Path) -> None:
    out = authchaos("run", "gate-baseline", "--service", "node", "--backend", "real", "--report-dir", tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS    gate-baseline" in out.stdout


@needs_node
def test_repro_shows_the_headline_bug_on_the_original_stack(tmp_path: Path) -> None:
    out = authchaos("repro", "invalid-token-type", "--service", "node", "--report-dir", tmp_path, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reproduced: red with the bug, green without" in out.stdout
