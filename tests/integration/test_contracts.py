"""Contracts end to end: a service that answers 404 is never green, and the original Node service (Express,
ioredis, jsonwebtoken) is gated, checked and made to show its headline bug through its own contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import xmlschema

from authchaos.record.service_contract import load_contract
from authchaos.record.token_keys import TokenKeys, sign
from authchaos.run.infrastructure import InfraOptions, Infrastructure
from authchaos.servers.redis_server import RedisServer
from authchaos.sut.command_service import CommandService
from authchaos.sut.reference_service import token_keys
from authchaos.sut.service_process import AuthServiceProcess

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "examples" / "node-service" / "contract.yaml"
CONTRACT_PROJECT = ROOT / "tests" / "fixtures" / "contract_project"
NOT_FOUND = ROOT / "tests" / "fixtures" / "not_found_service" / "contract.yaml"
needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node/npm not installed: the Node service needs Node.js 20 and npm (make setup runs npm ci)",
)


def authchaos(
    *args: str | Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", **(env or {})}  # one table row per line, so a cell reads whole
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
    # what a CI log shows: a progress line while it runs, and whole names in the summary
    assert "  … gate-baseline (1/1): workload: " in out.stdout, out.stdout
    summary = out.stdout[out.stdout.index("authchaos summary") :]
    assert "gate-baseline" in summary and "…" not in summary, summary
    junit = (tmp_path / "latest" / "junit.xml").read_text()
    xmlschema.XMLSchema(ROOT / "tests" / "fixtures" / "junit" / "junit-10.xsd").validate(junit)
    assert 'name="service" value="node-service"' in junit


@needs_node
def test_repro_shows_the_headline_bug_on_the_original_stack(tmp_path: Path) -> None:
    out = authchaos("repro", "invalid-token-type", "--service", "node", "--report-dir", tmp_path, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reproduced: red with the bug, green without" in out.stdout


def test_contract_init_from_a_running_service_then_check(redis_server: RedisServer, tmp_path: Path) -> None:
    """The two first steps of adopting authchaos: draft from the service's OpenAPI, then check the draft. The
    reference service's document has no answer schemas and no error spellings: the only declaration left
    wrong is the OAuth provider the skeleton marks TODO."""
    drafted = tmp_path / "contract.yaml"
    with AuthServiceProcess(redis_server.url) as service:
        init = authchaos("contract", "init", "--target", service.url, "--out", drafted)
        check = authchaos("contract", "check", "--target", service.url, "--contract", drafted)
    assert init.returncode == 0 and "8 operations declared" in init.stdout, init.stdout + init.stderr
    assert check.returncode == 1, check.stdout + check.stderr
    assert "11 of 12 declarations matched; 1 did not" in check.stdout
    mismatch = [line for line in check.stdout.splitlines() if "MISMATCH" in line]
    assert len(mismatch) == 1 and "oauth_callback" in mismatch[0], check.stdout


@needs_node
def test_the_pytest_plugin_drives_a_service_from_its_contract(tmp_path: Path) -> None:
    """A team's own suite (tests/fixtures/contract_project) on the plugin: auth_service starts the Node service
    from --authchaos-contract behind the proxied Redis; with a bug switched on its outage test goes red."""
    project = tmp_path / "contract_project"
    shutil.copytree(CONTRACT_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))

    def suite(bugs: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--authchaos-backend", "real"]
        argv.append(f"--authchaos-contract={NODE}")  # one argument: pytest must not take the path for a rootdir
        env = {**os.environ, "AUTHCHAOS_BUGS": bugs}
        return subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=180, env=env)

    fixed, buggy = suite(""), suite("unsafe_redis")
    assert fixed.returncode == 0 and "2 passed" in fixed.stdout, fixed.stdout[-3000:]
    assert buggy.returncode == 1 and "1 failed, 1 passed" in buggy.stdout, buggy.stdout[-3000:]
    assert "assert (500 == 200)" in buggy.stdout  # a raw Redis error reached /me


@needs_node
def test_the_legacy_corpus_replayed_on_the_node_service(tmp_path: Path) -> None:
    """Every token shape the original service ever issued, against the original stack: the pre-fix fallback
    exchanged once, the OAuth bug's access-key token refused with the original message, a retired key still
    accepted, a dropped one refused."""
    keys = {
        "AUTHCHAOS_JWT_ACCESS_SECRET": "a" * 40,
        "AUTHCHAOS_JWT_REFRESH_SECRET": "r" * 40,
        "AUTHCHAOS_JWT_REFRESH_RETIRED_SECRETS": "o" * 40,
    }
    corpus = tmp_path / "corpus.jsonl"
    made = authchaos("legacy-corpus", "--out", corpus, "--contract", NODE, env=keys)
    assert made.returncode == 0 and "11 tokens written" in made.stdout, made.stdout + made.stderr
    with Infrastructure(InfraOptions(backend="real")) as infra:
        service = CommandService(load_contract(NODE), infra.service_redis_url, keys, keys=token_keys(keys)).start()
        try:
            replay = authchaos("replay-tokens", corpus, "--target", service.url, "--contract", NODE)
            revoked = _blacklist_then_refresh(service.url, token_keys(keys))
        finally:
            service.stop()
    assert replay.returncode == 0 and "11 as expected, 0 unexpected" in replay.stdout, replay.stdout
    rows = {line.split("│")[1].strip(): line for line in replay.stdout.splitlines() if line.count("│") > 4}
    assert "200 then 401 token_reused" in rows["retired-1"] and "401 invalid_token" in rows["legacy-2"]
    # a token a retired key signed is accepted, so it must be revocable too: blacklisted, then refused
    assert revoked == ({"blacklisted": 1, "expired": 0, "invalid": 0}, 401, "TOKEN_REVOKED")


def _blacklist_then_refresh(url: str, keys: TokenKeys) -> tuple[object, int, object]:
    secret, kid = keys.retired_refresh[0]
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "exp": now + 600, "iss": keys.issuer, "aud": keys.audience}
    token = sign(claims, secret, kid=kid)  # the pre-fix shape: no type, no typ header
    with httpx.Client(base_url=url, timeout=10) as http:
        admin = http.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-secret"}).json()
        bearer = {"Authorization": f"Bearer {admin['data']['accessToken']}"}
        counts = http.post("/api/v1/auth/blacklist", json={"tokens": [token]}, headers=bearer).json()["data"]
        again = http.post("/api/v1/auth/refresh", json={"refreshToken": token})
    return counts, again.status_code, again.json()["error"]["code"]


@needs_node
def test_gate_prove_on_the_node_service_catches_the_client_without_timeouts(tmp_path: Path) -> None:
    """The Node switch no other test turns on: a second ioredis client with its defaults (offline queue, 20
    retries, no command timeout) holds /me for the whole blackhole. The fixed service passes the gate; the
    switch is caught by the checks the contract names (the other switches: repro, the plugin test, and the
    closing notes' full `gate --prove --service node`)."""
    out = authchaos(
        "prove", "--switches", "--service", "node", "--only", "multiple_redis_clients", "--report-dir", tmp_path,
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr
    rows = [line for line in out.stdout.splitlines() if "│" in line]
    assert any("(none: fixed" in r and "passes" in r for r in rows), out.stdout[-4000:]
    caught = next(r for r in rows if r.split("│")[1].strip() == "multiple_redis_clients")
    assert "caught" in caught and "gate-blackhole: latency_slo" in caught, out.stdout[-4000:]
