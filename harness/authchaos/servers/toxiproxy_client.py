"""The one place that talks to Toxiproxy, on toxiproxy-python, with its gaps closed.

toxiproxy-python 0.1.1 gaps handled here, and nowhere else:
  - host/port are class attributes of APIConsumer (one server per process):
    every call takes a process-wide lock and points APIConsumer at *this* server;
  - 5xx answers pass silently and ``add_toxic`` returns None: every change is
    verified by reading the server's state back, and retried while it answers 503
    (Toxiproxy does that when toxics are removed under traffic);
  - no call to update a toxic: ``update_toxic`` sends the PATCH itself;
  - ``version()`` returns raw bytes: parsed here;
  - ``populate()`` recreates port-0 proxies: never used; proxies get explicit ports;
  - no HTTP timeout at all: each library call runs with a deadline.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from toxiproxy.exceptions import NotFound, ProxyExists
from toxiproxy.proxy import Proxy
from toxiproxy.server import Toxiproxy

from authchaos.servers.toxic_spec import ToxicSpec

T = TypeVar("T")
_LOCK = threading.Lock()
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="toxiproxy-api")
CALL_TIMEOUT_S = 10.0
RETRIES = 8


class ToxiproxyError(Exception):
    """Toxiproxy refused or did not apply a change; the message says which."""


class ToxiproxyClient:
    def __init__(self, api_url: str) -> None:
        url = httpx.URL(api_url)
        self.api_url = api_url.rstrip("/")
        self.host = url.host
        self.port = url.port or 8474

    # -- plumbing -------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one toxiproxy-python call against this server, with a deadline."""

        def bound() -> T:
            with _LOCK:
                Toxiproxy().update_api_consumer(self.host, self.port)
                return fn()

        future = _POOL.submit(bound)
        try:
            return future.result(timeout=CALL_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            raise ToxiproxyError(f"Toxiproxy at {self.api_url} did not answer within {CALL_TIMEOUT_S:.0f}s") from None
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise ToxiproxyError(f"cannot reach Toxiproxy at {self.api_url}: {exc}") from None

    def _retry(self, what: str, attempt: Callable[[], bool]) -> None:
        """Repeat ``attempt`` until it reports the change is visible (bounded)."""
        delay = 0.02
        for _ in range(RETRIES):
            try:
                if attempt():
                    return
            except (ValueError, httpx.HTTPError):  # a 5xx body the library tried to parse, or a dropped call
                pass
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise ToxiproxyError(f"Toxiproxy at {self.api_url} did not apply: {what}")

    def _proxy(self, name: str) -> Proxy:
        proxy = self._call(lambda: Toxiproxy().get_proxy(name))
        if proxy is None:
            raise ToxiproxyError(f"no proxy named {name!r} on {self.api_url}")
        return proxy

    # -- server ---------------------------------------------------------------

    def version(self) -> str:
        raw = self._call(lambda: Toxiproxy().version())
        if raw is None:
            raise ToxiproxyError(f"Toxiproxy at {self.api_url} is not running")
        try:
            return str(json.loads(raw)["version"])
        except (ValueError, KeyError, TypeError):
            return raw.decode(errors="replace").strip() if isinstance(raw, bytes) else str(raw)

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Raw server state (not the library's objects): name -> {listen, upstream, enabled, toxics}."""
        r = httpx.get(f"{self.api_url}/proxies", timeout=CALL_TIMEOUT_S)
        r.raise_for_status()
        return dict(r.json())

    # -- proxies --------------------------------------------------------------

    def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        """Create (or replace) a proxy on an explicit listen address."""
        existing = self.proxies().get(name)
        if existing is not None:
            self.delete_proxy(name)
        with contextlib.suppress(ProxyExists):  # a concurrent creator won; the read below decides
            self._call(lambda: Toxiproxy().create(upstream=upstream, name=name, listen=listen, enabled=True))
        state = self.proxies().get(name)
        if state is None:
            raise ToxiproxyError(f"Toxiproxy did not create proxy {name!r} ({listen} -> {upstream})")
        return state

    def delete_proxy(self, name: str) -> None:
        try:
            proxy = self._proxy(name)
            self._call(proxy.destroy)
        except (ToxiproxyError, NotFound):
            return

    def set_enabled(self, name: str, enabled: bool) -> None:
        proxy = self._proxy(name)

        def attempt() -> bool:
            self._call(proxy.enable if enabled else proxy.disable)
            return bool(self.proxies().get(name, {}).get("enabled")) is enabled

        self._retry(f"{'enable' if enabled else 'disable'} proxy {name}", attempt)

    # -- toxics ---------------------------------------------------------------

    def toxics(self, proxy: str) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in self.proxies().get(proxy, {}).get("toxics", [])}

    def add_toxic(self, proxy: str, spec: ToxicSpec) -> None:
        target = self._proxy(proxy)

        def attempt() -> bool:
            if spec.name not in self.toxics(proxy):
                self._call(lambda: target.add_toxic(**spec.as_json()))
            return spec.name in self.toxics(proxy)

        self._retry(f"add toxic {spec.name} ({spec.type}) to {proxy}", attempt)

    def update_toxic(self, proxy: str, name: str, attributes: dict[str, int], toxicity: float | None = None) -> None:
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity

        def attempt() -> bool:
            r = httpx.patch(f"{self.api_url}/proxies/{proxy}/toxics/{name}", json=body, timeout=CALL_TIMEOUT_S)
            if r.status_code == 404:
                raise ToxiproxyError(f"no toxic {name!r} on proxy {proxy!r}")
            return r.status_code < 300

        self._retry(f"update toxic {name} on {proxy}", attempt)

    def remove_toxic(self, proxy: str, name: str) -> None:
        target = self._proxy(proxy)

        def attempt() -> bool:
            if name in self.toxics(proxy):
                try:
                    self._call(lambda: target.destroy_toxic(name))
                except NotFound:
                    return True
            return name not in self.toxics(proxy)

        self._retry(f"remove toxic {name} from {proxy}", attempt)

    def rollback(self, proxies: list[str] | None = None) -> list[str]:
        """Remove every toxic and re-enable every proxy (all, or the named ones); returns what was undone."""
        undone: list[str] = []
        state = self.proxies()
        for name, info in state.items():
            if proxies is not None and name not in proxies:
                continue
            for toxic in info.get("toxics", []):
                self.remove_toxic(name, toxic["name"])
                undone.append(f"{name}/{toxic['name']}")
            if not info.get("enabled", True):
                self.set_enabled(name, True)
                undone.append(f"{name}/enabled")
        return undone
