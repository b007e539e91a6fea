"""The reference service in this process, on a thread, for the embedded backend.

It still listens on a loopback port, so clients (and Locust) see the same
HTTP service as on the real backend; only its Redis is fakeredis.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from authchaos.servers.processes import StartError, free_port
from authchaos_reference.app import create_app
from authchaos_reference.config import load_settings
from authchaos_reference.http_limits import protocol_class
from authchaos_reference.services import Services, build_services

HOST = "127.0.0.1"


class InProcessService:
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
        self.services: Services = build_services(self.settings, connection_class)
        self.port = port or free_port()
        config = uvicorn.Config(
            create_app(self.settings, self.services),
            host=HOST,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http=protocol_class("auto"),  # the head limits of `authchaos serve` (AUTHCHAOS_HTTP_*)
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> InProcessService:
        self.thread = threading.Thread(target=self.server.run, name=f"service:{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise StartError(f"the in-process service did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(timeout=10)

    def __enter__(self) -> InProcessService:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
