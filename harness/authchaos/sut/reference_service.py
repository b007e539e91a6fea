"""Everything the harness knows about the reference service, in one place: how to start it, its
bug switches, its key ids and its in-memory store.

This module and the two that start the service (``service_process``, ``inprocess_service``)
are the only harness code that imports ``reference_impl``; everything else drives the service
over HTTP as a black box (``tests/unit/test_boundary.py`` enforces it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import fakeredis

import authchaos_reference
from authchaos.record.token_keys import ENV, TokenKeys
from authchaos_reference.config import DEV_ACCESS_SECRET, DEV_REFRESH_SECRET
from authchaos_reference.jwt_codec import Kind, kid_for
from authchaos_reference.redis_client import memory_server as _memory_server

__all__ = ["RunningService", "code_in_use", "memory_server", "source_dir", "start_service", "token_keys"]


class RunningService(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...  # a crash: every worker at once, no shutdown

    def restart(self) -> None: ...  # a new process on the same port

    def alive(self) -> bool: ...

    def pause(self) -> None: ...  # every worker frozen (SIGSTOP), Redis untouched

    def resume(self) -> None: ...  # idempotent

    def start_cleanup(self, every_s: float) -> None: ...  # the service's Redis cleanup, pass after pass

    def stop_cleanup(self) -> str: ...  # how many passes ran; raises if one failed


def memory_server(name: str) -> fakeredis.FakeServer:
    """The named in-process store behind ``memory://NAME`` (the embedded backend's Redis)."""
    return _memory_server(name)


def token_keys(env: Mapping[str, str]) -> TokenKeys:
    """The keys the service was started with (its development defaults where unset), with their key ids."""
    defaults = {ENV["access"]: DEV_ACCESS_SECRET, ENV["refresh"]: DEV_REFRESH_SECRET}
    keys = TokenKeys.from_env({**defaults, **{k: v for k, v in env.items() if v}})
    assert keys is not None  # both secrets have defaults
    retired = tuple((s, kid_for(Kind.REFRESH, s)) for s, _ in keys.retired_refresh)
    return TokenKeys(
        keys.access_secret,
        keys.refresh_secret,
        kid_for(Kind.ACCESS, keys.access_secret),
        kid_for(Kind.REFRESH, keys.refresh_secret),
        retired,
        keys.issuer,
        keys.audience,
    )


def source_dir() -> Path:
    """The reference service's package directory (what a mutant copies and edits)."""
    return Path(authchaos_reference.__file__).parent


def code_in_use(code_dir: Path) -> Path:
    """Where a service started with ``code_dir`` imports ``reference_impl`` from (the way it is started:
    that directory as cwd and first on PYTHONPATH); a mutant that is not really loaded would survive anything."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code_dir), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(
        [sys.executable, "-c", "import authchaos_reference; print(authchaos_reference.__file__)"],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return Path(out.stdout.strip()).parent


def start_service(
    backend: str,
    redis_url: str,
    env: dict[str, str],
    *,
    workers: int = 1,
    connection_class: type | None = None,
    code_dir: Path | None = None,
) -> RunningService:
    """The reference service on ``redis_url``: a uvicorn subprocess on the real backend, in-process otherwise.

    ``code_dir`` holds another ``reference_impl`` (a mutant) that the subprocess imports instead of ours.
    """
    if backend == "real":
        from authchaos.sut.service_process import AuthServiceProcess

        return AuthServiceProcess(redis_url, env=env, workers=workers, code_dir=code_dir).start()
    if code_dir is not None:
        raise ValueError("a mutated service runs as a subprocess: use --backend real")
    from authchaos.sut.inprocess_service import InProcessService

    return InProcessService(redis_url, env=env, connection_class=connection_class).start()
