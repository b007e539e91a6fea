"""Child processes that cannot outlive the harness.

Each child gets PR_SET_PDEATHSIG (Linux): if the harness dies, even by
SIGKILL, the kernel kills the child. Everything started is also registered
so ``stop_all`` (atexit, SIGINT, SIGTERM) stops it in reverse order.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_live: list[ManagedProcess] = []
_lock = threading.Lock()
# PDEATHSIG fires when the *thread* that forked exits; fork every child from this
# one thread, which lives as long as the process, whatever thread asks.
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="authchaos-spawner")


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll ``check`` until it is true or ``timeout_s`` passes (bounded, never forever)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


KILLED_WITHIN_S = 3.0  # a process group killed with SIGKILL has let go of its port by then


class StartError(Exception):
    """A child failed to become ready; the message includes the tail of its log."""


class ManagedProcess:
    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = _SPAWNER.submit(
                subprocess.Popen,
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # Ctrl-C reaches us, not the child: we stop it in order
            ).result()
        with _lock:
            _live.append(self)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 8) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to its whole process group (a supervisor and its workers: SIGSTOP, SIGCONT)."""
        if self.alive():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)  # its own session (start_new_session): its group

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; resumes a paused child (and its group) first."""
        if self.proc is None:
            return
        if self.alive():
            self.signal_group(signal.SIGCONT)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        else:
            self.proc.wait()
        with _lock:
            if self in _live:
                _live.remove(self)

    def kill(self) -> None:
        """SIGKILL its whole process group (a supervisor and its workers) and reap: the crash, not the shutdown."""
        if self.alive():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session (start_new_session): its group
            self.proc.kill()
            self.proc.wait(5)


def kill_listener(process: ManagedProcess, host: str, port: int) -> None:
    """kill -9 ``process``'s group and wait for ``port`` to close: a port that still answers belongs to something
    that detached from the command (a daemon, setsid, a container), and killing it here would be a silent no-op."""
    process.kill()
    if not wait_until(lambda: not port_open(host, port), KILLED_WITHIN_S, 0.02):
        raise StartError(
            f"port {port} still answers after kill -9 of the service's process group: a service that detaches "
            "from its command (daemonizes, setsid, a container) cannot be killed here"
        )


def live_processes() -> list[ManagedProcess]:
    with _lock:
        return [p for p in _live if p.alive()]


def stop_all() -> None:
    with _lock:
        procs = list(reversed(_live))
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.stop(timeout_s=3)


atexit.register(stop_all)
