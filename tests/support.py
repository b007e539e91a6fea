"""Test helpers: an in-process service on its own fakeredis server, and the CLI as a subprocess."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import httpx

from authchaos_reference.app import create_app
from authchaos_reference.config import Settings, load_settings
from authchaos_reference.redis_client import memory_server
from authchaos_reference.services import Services, build_services

_names = itertools.count()
REPO = Path(__file__).resolve().parents[1]


def authchaos(
    *args: str,
    cwd: Path | None = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
    report_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process, as a user runs it: exit codes and stderr lines are what is under test.

    COLUMNS is wide so rich tables do not wrap the cells tests read; ``env`` is laid over the caller's
    environment; ``report_dir`` appends ``--report-dir`` so reports land in the test's tmp_path.
    """
    extra = ["--report-dir", str(report_dir)] if report_dir is not None else []
    return subprocess.run(
        [sys.executable, "-m", "authchaos", *args, *extra],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Running:
    client: httpx.AsyncClient
    services: Services
    fake: fakeredis.FakeServer | None

    async def login(self, username: str = "alice", password: str = "wonderland") -> dict[str, Any]:
        r = await self.client.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    async def refresh(self, token: str) -> httpx.Response:
        return await self.client.post("/auth/refresh", json={"refresh_token": token})

    async def oauth(self, username: str = "alice") -> httpx.Response:
        """The whole demo OAuth login: authorize, then its redirect to the callback (code and state)."""
        params = {"provider": "demo", "login_hint": username}
        return await self.client.get("/oauth/authorize", params=params, follow_redirects=True)

    async def me(self, access: str) -> httpx.Response:
        return await self.client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})

    def redis_down(self) -> None:
        assert self.fake is not None
        self.fake.connected = False

    def redis_up(self) -> None:
        assert self.fake is not None
        self.fake.connected = True


def pid_alive(pid: int) -> bool:
    """Is this process running? A zombie still answers kill(0); it is dead for our purposes."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"redis_url": f"memory://test-{next(_names)}", "probe_interval_s": 0.05}
    return load_settings(**(base | overrides))


@asynccontextmanager
async def running_service(connection_class: type | None = None, **overrides: Any) -> AsyncIterator[Running]:
    settings = make_settings(**overrides)
    services = build_services(settings, connection_class)
    app = create_app(settings, services)
    fake = None
    if settings.redis_url.startswith("memory://"):
        fake = memory_server(settings.redis_url.removeprefix("memory://"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # 500s are answers here
        async with httpx.AsyncClient(transport=transport, base_url="http://authchaos.test") as client:
            yield Running(client, services, fake)
