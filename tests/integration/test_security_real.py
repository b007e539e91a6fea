"""Issue-11 regressions that need a real redis-server or a real ``authchaos serve`` process and its log."""

from __future__ import annotations

import base64
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authchaos.servers.redis_server import RedisServer, redis_command
from authchaos.sut.service_process import AuthServiceProcess
from authchaos_reference.config import load_settings
from authchaos_reference.jwt_codec import Kind, TokenCodec
from tests.support import running_service

pytestmark = pytest.mark.integration


@pytest.fixture
def acl_user(fresh_redis: RedisServer) -> Iterator[tuple[str, str]]:
    """A Redis user that may do everything but EXISTS (a partial ACL, as a misconfigured deployment has)."""
    name, password = f"limited{secrets.token_hex(4)}", secrets.token_hex(16)
    reply = redis_command(
        "127.0.0.1", fresh_redis.port, "ACL", "SETUSER", name, "on", f">{password}", "~*", "&*", "+@all", "-exists"
    )
    assert reply.startswith(b"+OK"), reply
    yield name, password
    redis_command("127.0.0.1", fresh_redis.port, "ACL", "DELUSER", name)


async def test_noperm_is_not_an_outage_and_never_a_degraded_accept(
    fresh_redis: RedisServer, acl_user: tuple[str, str]
) -> None:
    async with running_service(redis_url=fresh_redis.url) as healthy:
        pair = await healthy.login()
    name, password = acl_user
    limited_url = f"redis://{name}:{password}@127.0.0.1:{fresh_redis.port}/0"
    async with running_service(redis_url=limited_url) as svc:
        for _ in range(5):  # more than the breaker threshold
            r = await svc.me(pair["access_token"])
            assert r.status_code == 503 and "X-Auth-Degraded" not in r.headers, r.text
        assert svc.services.ops.breaker.state.value == "closed", "Redis answered: the breaker stays closed"
        health = (await svc.client.get("/health")).json()
        assert password not in str(health)


def _nested_token() -> str:
    codec = TokenCodec(load_settings(redis_url="memory://"))
    good = codec.encode(Kind.ACCESS, {"sub": "alice", "tokenId": "n", "family": "n"}, ttl_s=60)
    _, payload, sig = good.split(".")
    head = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    return f"{head}.{payload}.{sig}"


def _clear_requirepass(port: int, password: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(f'AUTH {password}\r\nCONFIG SET requirepass ""\r\n'.encode())
        got = b""
        while got.count(b"\r\n") < 2:
            got += sock.recv(1024)
    assert got == b"+OK\r\n+OK\r\n", got


def test_nested_token_and_query_password_over_tcp_leave_no_trace(fresh_redis: RedisServer, tmp_path: Path) -> None:
    """Over real HTTP: no dropped connection, no 5xx, no traceback, no password in the log or /health."""
    password = "q-" + secrets.token_hex(12)
    url = f"{fresh_redis.url}?password={password}"
    redis_command("127.0.0.1", fresh_redis.port, "CONFIG", "SET", "requirepass", password)
    try:
        with AuthServiceProcess(url, log_dir=tmp_path) as service, httpx.Client(base_url=service.url, timeout=10) as c:
            bad = _nested_token()
            me = c.get("/auth/me", headers={"Authorization": f"Bearer {bad}"})
            assert me.status_code == 401 and me.json()["error"] == "invalid_token"
            assert c.post("/auth/refresh", json={"refresh_token": bad}).status_code == 401
            admin = c.post("/auth/login", json={"username": "admin", "password": "admin-secret"}).json()
            r = c.post(
                "/auth/blacklist", json={"tokens": [bad]}, headers={"Authorization": f"Bearer {admin['access_token']}"}
            )
            assert r.status_code == 200 and r.json()["invalid"] == 1
            health = c.get("/health").text
            assert password not in health
        log = (service.log_dir / "service.log").read_text()
    finally:
        _clear_requirepass(fresh_redis.port, password)
    assert "Traceback" not in log and "RecursionError" not in log, log[-2000:]
    assert password not in log
