"""The reference service under uvicorn in its own process, environment set per run."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import TracebackType

import httpx

from authchaos.servers.processes import ManagedProcess, StartError, free_port, kill_listener, wait_until
from authchaos.sut.cleanup_passes import RunsCleanup, reference_passes, run_reference_cleanup
from authchaos.sut.frozen_process import FreezesItsProcess

HOST = "127.0.0.1"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


class AuthServiceProcess(RunsCleanup, FreezesItsProcess):
    """``authchaos serve`` as a child; ``env`` (bug switches, policy) overrides the caller's."""

    def __init__(
        self,
        redis_url: str,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        workers: int = 1,
        log_dir: Path | None = None,
        start_timeout_s: float = 20.0,
        code_dir: Path | None = None,
    ) -> None:
        self.code_dir = code_dir  # run the reference_impl found here (a mutant) instead of the installed one
        self.redis_url = redis_url
        self.env = env or {}
        self.port = port or free_port()
        self.workers = workers
        self.own_log_dir = log_dir is None  # a temporary folder of ours: removed on stop (pass log_dir to keep it)
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="authchaos-service-"))
        self.start_timeout_s = start_timeout_s
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "AUTHCHAOS_REDIS_URL": self.redis_url}
        if self.code_dir is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.code_dir), os.environ.get("PYTHONPATH")]))
        return env

    def start(self) -> AuthServiceProcess:
        env = self._env()
        argv = [sys.executable, "-m", "authchaos", "serve", "--host", HOST, "--port", str(self.port)]
        argv += ["--workers", str(self.workers), "--log-level", "warning"]
        self.process = ManagedProcess(
            f"service:{self.port}", argv, self.log_dir / "service.log", env=env, cwd=self.code_dir
        )
        self.process.spawn()
        proc = self.process
        if (
            not wait_until(lambda: _healthy(self.url) or not proc.alive(), self.start_timeout_s, 0.05)
            or not proc.alive()
        ):
            tail = proc.log_tail()
            self.stop()
            raise StartError(f"the reference service did not become healthy on {self.url}: {tail or 'no output'}")
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def kill(self) -> None:
        """kill -9 every process of the service at once (a crash): nothing it held in memory survives."""
        if self.process is not None:
            kill_listener(self.process, HOST, self.port)

    def restart(self) -> None:
        """A new process on the same port and Redis, as a supervisor brings one back; the same log file."""
        if self.process is not None:
            self.process.stop(timeout_s=8)
        self.start()

    def start_cleanup(self, every_s: float) -> None:
        """``authchaos cleanup`` of this service's code (a mutant's too) against its Redis, pass after pass."""
        argv = [sys.executable, "-m", "authchaos", "cleanup", "--max-seconds", "10"]
        env, cwd = self._env(), str(self.code_dir) if self.code_dir else None
        ttl = int(float(self.env.get("AUTHCHAOS_REFRESH_TTL_S") or 604_800))
        one = lambda: run_reference_cleanup(argv, env=env, cwd=cwd)  # noqa: E731  (one pass, run by the loop)
        self._cleanup = reference_passes(self.redis_url, ttl, one, every_s)

    def stop(self) -> None:
        self._end_cleanup()
        if self.process is not None:
            self.process.stop(timeout_s=8)
        if self.own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> AuthServiceProcess:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
