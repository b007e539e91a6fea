"""``authchaos serve`` as a real process: the contract over TCP, on memory:// and on real Redis."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from authchaos.servers.redis_server import RedisServer
from authchaos.sut.service_process import AuthServiceProcess

pytestmark = pytest.mark.integration


def walk_contract(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/health").json()["status"] in ("ok", "degraded")
        pair = c.post("/auth/login", json={"username": "alice", "password": "wonderland"}).json()
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        assert c.get("/auth/me", headers=auth).json()["username"] == "alice"
        new = c.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert new.status_code == 200
        replay = c.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert replay.status_code == 401 and replay.json()["error"] == "token_reused"
        newest = c.post("/auth/refresh", json={"refresh_token": new.json()["refresh_token"]})
        assert newest.json()["error"] == "token_revoked"
        oauth = c.get(
            "/oauth/authorize", params={"provider": "demo", "login_hint": "admin"}, follow_redirects=True
        ).json()
        admin = {"Authorization": f"Bearer {oauth['access_token']}"}
        other = c.post("/auth/login", json={"username": "alice", "password": "wonderland"}).json()
        r = c.post("/auth/blacklist", json={"tokens": [other["access_token"]]}, headers=admin)
        assert r.json() == {"blacklisted": 1, "expired": 0, "invalid": 0}
        assert c.get("/auth/me", headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 401
        third = c.post("/auth/login", json={"username": "alice", "password": "wonderland"}).json()
        bye = c.post("/auth/logout", headers={"Authorization": f"Bearer {third['access_token']}"}, json={"all": True})
        assert bye.status_code == 200 and bye.json()["revoked"] >= 1
        assert c.post("/auth/login", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
        assert "authchaos_http_requests_total" in c.get("/metrics").text


def test_serve_on_memory() -> None:
    with AuthServiceProcess("memory://") as service:
        walk_contract(service.url)


def test_serve_on_real_redis_with_two_workers(fresh_redis: RedisServer) -> None:
    with AuthServiceProcess(fresh_redis.url, workers=2) as service:
        walk_contract(service.url)
    assert not service.process.alive()


def test_serve_refuses_bad_settings_in_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "authchaos", "serve", "--port", "1"],
        env={"AUTHCHAOS_BUGS": "nope", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "unknown bug switch nope" in out.stderr and "Traceback" not in out.stderr
