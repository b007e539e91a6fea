"""External mode: run scenarios against a service the harness did not start (a staging stand-in here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from authchaos.pytest_plugin import RedisProxy
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.servers.toxiproxy_server import ToxiproxyServer
from authchaos.sut.service_process import AuthServiceProcess

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def run_against(tmp_path: Path, url: str, env: dict[str, str]) -> tuple[int, dict]:
    out = subprocess.run(
        [sys.executable, "-m", "authchaos", "run", "gate-blackhole", "--target", url, "--report-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "AUTHCHAOS_BUGS": "", **env},
    )
    assert "external service" in out.stdout, out.stdout + out.stderr
    return out.returncode, json.loads((tmp_path / "latest" / "run.json").read_text())["scenarios"][0]


def test_faults_reach_an_external_service_through_its_proxy(
    tmp_path: Path, redis_proxy: RedisProxy, toxiproxy: ToxiproxyServer
) -> None:
    fast = {"AUTHCHAOS_REDIS_COMMAND_TIMEOUT_S": "0.5", "AUTHCHAOS_BREAKER_RESET_S": "0.5"}
    with AuthServiceProcess(redis_proxy.url, env=fast) as staging:
        code, sc = run_against(
            tmp_path / "a",
            staging.url,
            {"AUTHCHAOS_EXTERNAL_TOXIPROXY_URL": toxiproxy.api_url, "AUTHCHAOS_EXTERNAL_PROXY": redis_proxy.name},
        )
        assert code == 0, [c for c in sc["checks"] if not c["passed"]]
        window = sc["timeline"]["windows"][0]
        assert window["start_s"] is not None and window["skipped"] is None
        assert any(o.get("status") == 503 for o in sc["history"]), "the blackhole reached the service's Redis"
        assert redis_proxy.name in ToxiproxyClient(toxiproxy.api_url).proxies(), "the harness keeps others' proxies"

        code, sc = run_against(tmp_path / "b", staging.url, {"AUTHCHAOS_EXTERNAL_PROXY": ""})
        skipped = sc["timeline"]["windows"][0]["skipped"] or ""
        assert "not supported on the external backend: set AUTHCHAOS_EXTERNAL_TOXIPROXY_URL" in skipped
        assert (code, sc["verdict"]) == (2, "skipped"), "a gate with nothing injected is not a pass"
