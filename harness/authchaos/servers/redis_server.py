"""A real redis-server on a free loopback port, with the process faults scenarios need.

Faults here are the process kind (kill -9, SIGSTOP freeze, restart, restart
into empty data, flush); network faults go through Toxiproxy instead.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import ssl
import tempfile
from pathlib import Path
from types import TracebackType

from authchaos.servers.binaries import find_redis_server
from authchaos.servers.processes import ManagedProcess, StartError, free_port, wait_until
from authchaos.servers.tls import TlsFiles, make_certs

HOST = "127.0.0.1"


def redis_command(host: str, port: int, *args: str, timeout_s: float = 2.0, tls: ssl.SSLContext | None = None) -> bytes:
    """Send one inline command and return the raw reply (PING, FLUSHALL, CONFIG SET, ...).

    Raw RESP on a fresh socket: no client library state to go stale across restarts.
    """
    with socket.create_connection((host, port), timeout=timeout_s) as raw:
        sock = tls.wrap_socket(raw, server_hostname=host) if tls else raw
        sock.sendall((" ".join(args) + "\r\n").encode())
        return sock.recv(65536)


def redis_ping(host: str, port: int, timeout_s: float = 0.5, tls: ssl.SSLContext | None = None) -> bool:
    """The server answers (a node with a password answers -NOAUTH: up, too)."""
    try:
        return redis_command(host, port, "PING", timeout_s=timeout_s, tls=tls).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    def __init__(
        self,
        *,
        port: int | None = None,
        aof: bool = False,
        appendfsync: str = "everysec",
        data_dir: Path | None = None,
        tls: bool = False,
        start_timeout_s: float = 10.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.binary = find_redis_server()
        self.port = port or free_port()
        self.aof = aof
        self.appendfsync = appendfsync
        self._own_dir = data_dir is None
        self.dir = data_dir or Path(tempfile.mkdtemp(prefix="authchaos-redis-"))
        self.start_timeout_s = start_timeout_s
        self.extra_args = list(extra_args or [])  # replication, cluster and ACL settings of a topology's node
        self.process: ManagedProcess | None = None
        self.paused = False
        self.denied = False  # an ACL denial (command_denied) is in force
        self.tls: TlsFiles | None = make_certs(self.dir / "tls") if tls else None
        self._tls_ctx = self.tls.client_context() if self.tls else None

    @property
    def url(self) -> str:
        """redis:// or, with TLS, rediss:// (clients need ``tls.ca`` as their CA)."""
        return f"{'rediss' if self.tls else 'redis'}://{HOST}:{self.port}/0"

    def _argv(self) -> list[str]:
        ports = ["--port", str(self.port)]
        if self.tls is not None:
            ports = [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                str(self.tls.cert),
                "--tls-key-file",
                str(self.tls.key),
                "--tls-ca-cert-file",
                str(self.tls.ca),
                "--tls-auth-clients",
                "no",
            ]
        return [
            str(self.binary),
            *ports,
            "--bind",
            HOST,
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.aof else "no",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
            *self.extra_args,
        ]

    def start(self) -> RedisServer:
        if self.process is not None and self.process.alive():
            return self
        process = self.process = ManagedProcess(f"redis-server:{self.port}", self._argv(), self.dir / "redis.log")
        process.spawn()
        ready = wait_until(
            lambda: redis_ping(HOST, self.port, tls=self._tls_ctx) or not process.alive(), self.start_timeout_s
        )
        if not ready or not process.alive():
            tail = self.process.log_tail()
            self.process.stop()
            raise StartError(f"redis-server did not become ready on port {self.port}: {tail or 'no log output'}")
        self.paused = self.denied = False  # a new process: no ACL changes of a fault survive it
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.paused = False

    def close(self) -> None:
        """Stop and remove the data directory (if the harness made it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- process faults --------------------------------------------------------

    def kill(self) -> None:
        """kill -9: no shutdown save, only what AOF already fsynced survives."""
        if self.process is not None:
            self.process.kill()
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the socket stays open but nothing answers (a frozen Redis)."""
        if self.process is not None:
            self.process.signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.process is not None:
            self.process.signal(signal.SIGCONT)
            self.paused = False

    def restart(self, *, lose_data: bool = False) -> None:
        """Stop (or reap a killed one) and start again on the same port."""
        self.stop()
        if lose_data:
            self.wipe_data()
        self.start()

    def wipe_data(self) -> None:
        for path in list(self.dir.glob("appendonly*")) + list(self.dir.glob("*.rdb")):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()

    def flush(self) -> None:
        redis_command(HOST, self.port, "FLUSHALL", tls=self._tls_ctx)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def deny(self, commands: tuple[str, ...]) -> None:
        """The default user (the one the service connects as) may no longer run ``commands``: NOPERM."""
        self.denied = True  # before the call: a reply lost after Redis applied it must still be rolled back
        self._acl("ACL", "SETUSER", "default", *(f"-{c}" for c in commands))

    def allow_all(self) -> None:
        self._acl("ACL", "SETUSER", "default", "+@all")
        self.denied = False

    def _acl(self, *args: str) -> None:
        reply = redis_command(HOST, self.port, *args, tls=self._tls_ctx)
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"redis-server refused {' '.join(args[:3])}: {reply.decode(errors='replace').strip()}")

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
