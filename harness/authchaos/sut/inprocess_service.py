"""The reference service in this process, on a thread, for the embedded backend.

It still listens on a loopback port, so clients (and Locust) see the same
HTTP service as on the real backend; only its Redis is fakeredis.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from types import TracebackType

import uvicorn

from authchaos.servers.processes import StartError, free_port
from authchaos.sut.cleanup_passes import RunsCleanup, reference_passes
from authchaos_reference.app import create_app
from authchaos_reference.cleanup import RedisCleanupService
from authchaos_reference.config import load_settings
from authchaos_reference.http_limits import protocol_class
from authchaos_reference.metrics import Metrics
from authchaos_reference.redis_client import create_redis
from authchaos_reference.redis_ops import RedisOperations
from authchaos_reference.services import Services, build_services

HOST = "127.0.0.1"


_killing: set[int] = set()  # ports of in-process services being killed right now

PAUSE_LIMIT_S = 30.0  # a pause is bounded even if nothing resumes it


def _not_a_kill(record: logging.LogRecord) -> bool:
    """uvicorn logs the lifespan task cancelled by ``kill`` (Starlette's "lifespan.shutdown.failed" message) as an
    error with a traceback: while a kill is under way that is the point, not an error."""
    text = record.getMessage()
    return not (_killing and text.startswith("Traceback") and text.rstrip().endswith("CancelledError"))


logging.getLogger("uvicorn.error").addFilter(_not_a_kill)


class InProcessService(RunsCleanup):
    def __init__(
        self,
        redis_url: str,
        *,
        env: dict[str, str] | None = None,
        connection_class: type | None = None,
        port: int | None = None,
    ) -> None:
        overrides = {
            k.removeprefix("AUTHCHAOS_").lower(): v for k, v in (env or {}).items() if k.startswith("AUTHCHAOS_")
        }
        overrides["redis_url"] = redis_url
        self.settings = load_settings(**overrides)
        self.connection_class = connection_class
        self.port = port or free_port()
        self.services, self.server = self._build()
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, once it runs
        self._running = threading.Event()  # cleared while paused: the server's loop waits on it
        self._running.set()

    def _build(self) -> tuple[Services, uvicorn.Server]:
        """A fresh service: new Services (no memory of an earlier one), the same settings, port and Redis."""
        services = build_services(self.settings, self.connection_class)
        config = uvicorn.Config(
            create_app(self.settings, services),
            host=HOST,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http=protocol_class("auto"),  # the head limits of `authchaos serve` (AUTHCHAOS_HTTP_*)
        )
        return services, uvicorn.Server(config)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    def start(self, timeout_s: float = 10.0) -> InProcessService:
        self.loop = None
        self.thread = threading.Thread(target=self._run, name=f"service:{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise StartError(f"the in-process service did not start on {self.url}")
            time.sleep(0.01)
        return self

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start_cleanup(self, every_s: float) -> None:
        """The reference cleanup against the same fakeredis, on the passes' own thread and loop."""
        settings = self.settings

        async def one_pass() -> None:
            ops = RedisOperations(create_redis(settings), settings, Metrics())
            try:
                report = await RedisCleanupService(ops, settings.refresh_ttl_s, max_seconds=10).run()
            finally:
                await ops.aclose()
            if not report.complete:
                raise RuntimeError(f"the cleanup pass did not finish its SCAN: {report.as_dict()}")

        url, ttl = settings.redis_url, settings.refresh_ttl_s
        self._cleanup = reference_passes(url, ttl, lambda: asyncio.run(one_pass()), every_s)

    def pause(self) -> None:
        """The in-process stand-in for SIGSTOP: the server's loop blocks (its thread waits) until ``resume``, at
        most PAUSE_LIMIT_S. Redis replies wait unread meanwhile, as they would in a frozen process."""
        if self.loop is not None and self.alive():
            self._running.clear()
            self.loop.call_soon_threadsafe(self._running.wait, PAUSE_LIMIT_S)

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self.resume()
        self._end_cleanup()
        if self.alive():
            self.server.should_exit = True
            assert self.thread is not None
            self.thread.join(timeout=10)

    def kill(self) -> None:
        """The closest a thread comes to kill -9: the listener closed and every connection aborted at once on the
        server's own loop (a request in flight gets a reset, never an answer), no lifespan shutdown, and the
        process's state thrown away with its Services (a restart builds new ones)."""
        if not self.alive() or self.loop is None:
            return
        self.resume()
        _killing.add(self.port)
        try:
            self.loop.call_soon_threadsafe(self._sever)
            assert self.thread is not None
            self.thread.join(timeout=10)
        finally:
            _killing.discard(self.port)

    def _sever(self) -> None:
        server = self.server
        for listener in server.servers:
            listener.close()
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        server.should_exit = server.force_exit = True

    def restart(self) -> None:
        self.stop()
        self.services, self.server = self._build()
        self.start()

    def __enter__(self) -> InProcessService:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
