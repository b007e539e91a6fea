"""Nothing the harness starts outlives it: not after a failing test, not after SIGINT, not after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from authchaos.servers.processes import wait_until
from authchaos.servers.toxiproxy_client import ToxiproxyClient
from authchaos.servers.toxiproxy_server import ToxiproxyServer
from tests.support import pid_alive

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def env_with(toxiproxy: ToxiproxyServer) -> dict[str, str]:
    return {**os.environ, "AUTHCHAOS_EXTERNAL_TOXIPROXY_URL": toxiproxy.api_url, "PYTHONPATH": str(REPO)}


def no_toxics_anywhere(client: ToxiproxyClient) -> bool:
    return all(not p["toxics"] and p["enabled"] for p in client.proxies().values())


def test_failing_test_leaves_no_process_proxy_or_toxic(tmp_path: Path, toxiproxy: ToxiproxyServer) -> None:
    record = tmp_path / "record.json"
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            import json
            from authchaos.faults.nemesis import injected
            from authchaos.faults.fault_spec import Latency

            def test_fails_midway(redis_proxy, redis_server, auth_service):
                redis_proxy.nemesis.start(Latency(ms=50))
                json.dump({{"redis": redis_server.process.pid, "service": auth_service.service.process.pid,
                           "proxy": redis_proxy.name}}, open({str(record)!r}, "w"))
                assert False, "deliberate failure"
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--authchaos-backend", "real", str(tmp_path)],
        env=env_with(toxiproxy),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 1 and "deliberate failure" in out.stdout, out.stdout[-2000:]
    seen = json.loads(record.read_text())
    assert not pid_alive(seen["redis"]) and not pid_alive(seen["service"])
    client = ToxiproxyClient(toxiproxy.api_url)
    assert seen["proxy"] not in client.proxies()
    assert no_toxics_anywhere(client)


SCRIPT = """
import json, sys, time
from authchaos.faults.fault_spec import Latency
from authchaos.run.infrastructure import Infrastructure, InfraOptions, terminate_like_interrupt
from authchaos.sut.service_process import AuthServiceProcess

terminate_like_interrupt()
with Infrastructure(InfraOptions(backend="real")) as infra:
    with AuthServiceProcess(infra.service_redis_url) as service:
        infra.nemesis.start(Latency(ms=20))
        print(json.dumps({"redis": infra.redis.process.pid, "toxiproxy_proxy": infra.proxy_name,
                          "service": service.process.pid}), flush=True)
        time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_harness_leaves_nothing_running(toxiproxy: ToxiproxyServer, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        env=env_with(toxiproxy),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = json.loads(proc.stdout.readline())
        client = ToxiproxyClient(toxiproxy.api_url)
        assert client.toxics(seen["toxiproxy_proxy"]), "the fault is active before the signal"
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_until(lambda: not pid_alive(seen["redis"]) and not pid_alive(seen["service"]), 10)
    if sig != signal.SIGKILL:  # SIGKILL gives no chance to talk to an external Toxiproxy
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "KeyboardInterrupt" in err and "rollback undid" in err, err[-2000:]  # unwound, and said so
        assert seen["toxiproxy_proxy"] not in client.proxies()
        assert no_toxics_anywhere(client)


def test_service_reconnects_through_the_proxy_after_redis_restart(auth_service, redis_proxy, fresh_redis) -> None:
    import httpx

    from authchaos.faults.fault_spec import Kill
    from authchaos.faults.nemesis import injected

    with httpx.Client(base_url=auth_service.url, timeout=10) as c:
        assert c.post("/auth/login", json={"username": "alice", "password": "wonderland"}).status_code == 200
        with injected(redis_proxy.nemesis, Kill()):
            r = c.post("/auth/login", json={"username": "alice", "password": "wonderland"})
            assert r.status_code == 200  # fallback tokens
            assert c.get("/health").json()["redis"]["state"] in ("degraded", "down")
        assert wait_until(lambda: c.get("/health").json()["redis"]["state"] == "ready", 15)
        pair = c.post("/auth/login", json={"username": "alice", "password": "wonderland"}).json()
        assert c.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 200
