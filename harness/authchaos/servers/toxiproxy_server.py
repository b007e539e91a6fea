"""A real toxiproxy-server on a free loopback API port."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import httpx

from authchaos.servers.binaries import find_toxiproxy_server
from authchaos.servers.processes import ManagedProcess, StartError, free_port, wait_until

HOST = "127.0.0.1"
log = logging.getLogger("authchaos.toxiproxy")
EXPECTED_VERSION = "2.12.0"


class ToxiproxyServer:
    def __init__(self, *, port: int | None = None, start_timeout_s: float = 10.0) -> None:
        self.binary = find_toxiproxy_server()
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self.log_dir = Path(tempfile.mkdtemp(prefix="authchaos-toxiproxy-"))
        self.process: ManagedProcess | None = None

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/version", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def version(self) -> str:
        return str(httpx.get(f"{self.api_url}/version", timeout=2).json()["version"])

    def start(self) -> ToxiproxyServer:
        argv = [str(self.binary), "-host", HOST, "-port", str(self.port)]
        self.process = ManagedProcess(f"toxiproxy:{self.port}", argv, self.log_dir / "toxiproxy.log")
        self.process.spawn()
        proc = self.process
        if not wait_until(lambda: self.healthy() or not proc.alive(), self.start_timeout_s) or not proc.alive():
            tail = proc.log_tail()
            self.stop()
            raise StartError(f"toxiproxy-server did not answer on {self.api_url}: {tail or 'no output'}")
        version = self.version()
        if version != EXPECTED_VERSION:
            log.warning(
                "toxiproxy-server %s at %s; authchaos is tested with %s", version, self.binary, EXPECTED_VERSION
            )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
