"""The one ASGI layer in front of the routes, in the order a request meets it:

1. admission: beyond capacity, an explicit 503 ``overloaded`` with Retry-After (never a degraded answer);
2. a body limit: 413 by Content-Length before reading, or while the body streams;
3. authenticate first: routes that need a bearer token check it (and the admin role for the batch
   blacklist) before their body is read, so a stranger's body is never parsed;
4. metrics by route template and status.

One layer rather than four: each ASGI layer costs a coroutine and a closure per request on the hot path.
"""

from __future__ import annotations

import time

from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authchaos_reference.errors import (
    AuthError,
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    ServiceUnavailable,
    challenge_header,
)
from authchaos_reference.redis_ops import StoreError, StoreUnavailable
from authchaos_reference.services import Services

AUTHENTICATED_ROUTES = frozenset({"/auth/logout", "/auth/blacklist"})
UNSHED = frozenset({"/health", "/metrics"})  # operators must see an overloaded service
CLIENT_GONE = 499  # the metrics' status for a request that ended without an answer (nginx's convention)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def error_response(exc: Exception) -> JSONResponse:
    """The one place an exception becomes an HTTP answer (routes and this layer share it)."""
    if isinstance(exc, StoreUnavailable | StoreError):
        exc = ServiceUnavailable("Session store unavailable; retry later", retry_after_s=exc.retry_after_s)
    if isinstance(exc, AuthError):
        headers = exc.headers if exc.challenge is None else {**exc.headers, "WWW-Authenticate": challenge_header(exc)}
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=headers)
    return JSONResponse(error_body("internal_error", "Internal server error"), 500)


async def send_json(send: Send, response: JSONResponse) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class BodyTooLarge(Exception):
    """Raised from inside the receive channel to stop reading a body past its limit (answered 413)."""


class RouteMetrics:
    """Prometheus children cached per (route, status): ``labels()`` takes a lock and builds a tuple each call."""

    def __init__(self, requests: Counter, latency: Histogram) -> None:
        self.requests = requests
        self.latency = latency
        self._counters: dict[tuple[str, int], Counter] = {}
        self._timers: dict[str, Histogram] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((route, status))
        if counter is None:
            counter = self._counters[(route, status)] = self.requests.labels(route, str(status))
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = self.latency.labels(route)
        counter.inc()
        timer.observe(seconds)


TWICE = b"\x00twice"  # the Authorization value of a request that sent more than one


def _headers(scope: Scope) -> tuple[bytes, bytes | None]:
    """Content-Length (b"0" when absent) and Authorization, in one pass over the raw headers.

    Two Authorization headers are refused: a gateway checking one copy and a route using the other would
    disagree about who is calling."""
    length, authorization = b"0", None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"authorization":
            authorization = value if authorization is None else TWICE
    return length, authorization


class Front:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.settings = services.settings
        self.load = services.load
        self.metrics = RouteMetrics(services.metrics.http_requests, services.metrics.http_latency)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = CLIENT_GONE  # no answer was started: the client went away first

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._admit(scope, receive, send_wrapper)
        except Exception:
            status = 500 if status == CLIENT_GONE else status
            raise
        finally:
            route = getattr(scope.get("route"), "path", None) or _known(scope["path"])
            self.metrics.observe(route, status, time.perf_counter() - start)

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in UNSHED:
            await self.app(scope, receive, send)
            return
        refusal = self.load.admit()
        if refusal is not None:
            await send_json(send, error_response(refusal))
            return
        try:
            await self._handle(scope, receive, send)
        finally:
            self.load.release()

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        length, authorization = _headers(scope)
        limit = self.settings.blacklist_max_body_bytes if path == "/auth/blacklist" else self.settings.max_body_bytes
        if not length.isdigit():
            await send_json(send, error_response(BadRequest("Content-Length must be a number")))
            return
        if authorization is TWICE:
            await send_json(send, error_response(BadRequest("Send one Authorization header, not several")))
            return
        too_large = PayloadTooLarge(f"Request body larger than {limit} bytes")
        if int(length) > limit:
            await send_json(send, error_response(too_large))
            return
        if path in AUTHENTICATED_ROUTES and scope["method"] == "POST":
            refusal = await self._authenticate(scope, authorization)
            if refusal is not None:
                await send_json(send, refusal)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(too_large.message)
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await send_json(send, error_response(too_large))

    async def _authenticate(self, scope: Scope, authorization: bytes | None) -> JSONResponse | None:
        try:
            principal = await self.services.cached_auth.authenticate(
                authorization.decode("latin-1") if authorization is not None else None
            )
            if scope["path"] == "/auth/blacklist" and not principal.is_admin:
                raise Forbidden("Blacklisting tokens needs the admin role")
        except (AuthError, StoreUnavailable, StoreError) as exc:
            return error_response(exc)
        scope.setdefault("state", {})["principal"] = principal
        return None


KNOWN_PATHS = frozenset(
    {
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/blacklist",
        "/auth/me",
        "/oauth/authorize",
        "/oauth/callback",
        "/health",
        "/metrics",
    }
)


def _known(path: str) -> str:
    """A label for a request answered before routing (shed, 413): its path when it is a route, else unmatched."""
    return path if path in KNOWN_PATHS else "unmatched"
