"""A team's own service, started from its contract: a command with placeholders, run from the contract's folder.

``{port}``, ``{host}``, ``{redis_url}``, ``{access_secret}``, ``{refresh_secret}``, ``{access_kid}``,
``{refresh_kid}``, ``{refresh_retired_secrets}`` and ``{refresh_retired_kids}`` (comma lists, the same order),
``{workers}``, ``{bugs}`` and ``{redis_tls_ca}`` come from the run;
``{env:AUTHCHAOS_X:-default}`` from the service settings a scenario gives, so the checkers and the service
agree on grace windows and lifetimes. The service is up when its declared health operation answers 2xx (with
none declared: when its port accepts connections). A ``setup`` command (``npm ci``) runs first when what it
``creates`` is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx

from authchaos.record.service_contract import ServiceContract
from authchaos.record.token_keys import TokenKeys
from authchaos.servers.processes import ManagedProcess, StartError, free_port, kill_listener, port_open, wait_until
from authchaos.sut.cleanup_passes import CleanupPasses, RunsCleanup, run_command
from authchaos.sut.frozen_process import FreezesItsProcess

HOST = "127.0.0.1"
SETUP_TIMEOUT_S = 300


ENV_REF = re.compile(r"\{env:([A-Z0-9_]+)(?::-([^}]*))?\}")


def _fill(text: str, values: Mapping[str, str], env: Mapping[str, str]) -> str:
    """``{port}``-style values, and ``{env:AUTHCHAOS_X:-default}`` from the run's service settings."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return ENV_REF.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


def _ignore(_: object) -> None:
    """A contract's cleanup is judged by its exit status only (its report's shape is its own)."""


class CommandService(RunsCleanup, FreezesItsProcess):
    """The contract's ``start.command`` as a child that cannot outlive the harness."""

    def __init__(
        self,
        contract: ServiceContract,
        redis_url: str,
        env: Mapping[str, str],
        *,
        keys: TokenKeys | None = None,
        workers: int = 1,
        port: int | None = None,
    ) -> None:
        if contract.start is None:
            raise StartError(f"{contract.source}: start: no command to start the service; add start.command")
        self.contract = contract
        self.start_spec = contract.start
        self.redis_url = redis_url
        self.env = dict(env)
        self.keys = keys
        self.workers = workers
        self.port = port or free_port()
        self.process: ManagedProcess | None = None
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"authchaos-{contract.name}-"))  # removed on stop

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _values(self) -> dict[str, str]:
        retired = self.keys.retired_refresh if self.keys else ()
        return {
            "port": str(self.port),
            "host": HOST,
            "redis_url": self.redis_url,
            "access_secret": self.env.get("AUTHCHAOS_JWT_ACCESS_SECRET", ""),
            "refresh_secret": self.env.get("AUTHCHAOS_JWT_REFRESH_SECRET", ""),
            "bugs": self.env.get("AUTHCHAOS_BUGS", ""),
            "redis_tls_ca": self.env.get("AUTHCHAOS_REDIS_TLS_CA", ""),
            "workers": str(self.workers),
            "access_kid": (self.keys.access_kid if self.keys else None) or "",
            "refresh_kid": (self.keys.refresh_kid if self.keys else None) or "",
            "refresh_retired_secrets": ",".join(s for s, _ in retired),
            "refresh_retired_kids": ",".join(k or "" for _, k in retired),
        }

    def _setup(self) -> None:
        spec = self.start_spec
        if spec.setup is None or (spec.creates and (self.contract.root / spec.creates).exists()):
            return
        try:
            done = subprocess.run(
                spec.setup, cwd=self.contract.root, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StartError(f"{self.contract.name}: setup {' '.join(spec.setup)} failed: {exc}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise StartError(f"{self.contract.name}: setup {' '.join(spec.setup)} exited {done.returncode}: {tail}")

    def _healthy(self) -> bool:
        health = self.contract.operation("health")
        if health is None:
            return port_open(HOST, self.port)
        try:
            return httpx.request(health.method, self.url + health.path, timeout=0.5).is_success
        except httpx.HTTPError:
            return False

    def start(self, timeout_s: float = 30.0) -> CommandService:
        try:
            return self._start(timeout_s)
        except BaseException:
            self.stop()  # nothing left behind: no child, no log folder
            raise

    def _start(self, timeout_s: float) -> CommandService:
        self._setup()
        return self._spawn(timeout_s)

    def _child_env(self) -> dict[str, str]:
        values = self._values()
        return {**os.environ, **{k: _fill(v, values, self.env) for k, v in self.start_spec.env.items()}}

    def _spawn(self, timeout_s: float) -> CommandService:
        values = self._values()
        argv = [_fill(a, values, self.env) for a in self.start_spec.command]
        env = self._child_env()
        self.process = ManagedProcess(
            f"{self.contract.name}:{self.port}", argv, self.log_dir / "service.log", env=env, cwd=self.contract.root
        )
        try:
            self.process.spawn()
        except OSError as exc:
            raise StartError(f"{self.contract.name}: cannot run {argv[0]}: {exc.strerror}; install it") from None
        proc = self.process
        if not wait_until(lambda: not proc.alive() or self._healthy(), timeout_s, 0.05) or not proc.alive():
            tail = proc.log_tail()
            self.stop()
            raise StartError(f"{self.contract.name} did not become healthy on {self.url}: {tail or 'no output'}")
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def kill(self) -> None:
        """kill -9 the service's whole process group (a crash)."""
        if self.process is not None:
            kill_listener(self.process, HOST, self.port)

    def restart(self, timeout_s: float = 30.0) -> None:
        """The same command again, on the same port (its setup already ran)."""
        if self.process is not None:
            self.process.stop(timeout_s=8)
        self._spawn(timeout_s)

    def start_cleanup(self, every_s: float) -> None:
        """The contract's ``start.cleanup`` command, from its folder with the service's environment, pass after
        pass (the keyspace is not seeded: only the reference's layout is known here)."""
        if self.start_spec.cleanup is None:  # the run reports the fault skipped, by this reason
            raise NotImplementedError(f"{self.contract.name}: its contract declares no start.cleanup command")
        argv = [_fill(a, self._values(), self.env) for a in self.start_spec.cleanup]
        env, cwd = self._child_env(), str(self.contract.root)
        self._cleanup = CleanupPasses(lambda: _ignore(run_command(argv, env=env, cwd=cwd)), every_s).start()

    def stop(self) -> None:
        self._end_cleanup()
        if self.process is not None:
            self.process.stop(timeout_s=8)
        shutil.rmtree(self.log_dir, ignore_errors=True)
