"""The HTTP contract, on FastAPI. Every error is ``{"error": CODE, "message": TEXT}``.

Routes are thin: they parse, call one service method, and shape the answer.
The exception handlers are where the degradation policy meets HTTP: a Redis
fault is a 503 with Retry-After on fail-closed paths, never a 500. Two ASGI
layers run before any body is parsed: a size limit, and authentication for
the routes that need it (an unauthenticated body is never read).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_impl.auth_cache import DEGRADED_HEADER, Principal
from reference_impl.bugs import Bug
from reference_impl.config import Settings, load_settings
from reference_impl.errors import AuthError, BadRequest, Forbidden, PayloadTooLarge, ServiceUnavailable
from reference_impl.redis_client import redact_url
from reference_impl.redis_ops import StoreError, StoreUnavailable
from reference_impl.redis_state import RedisState
from reference_impl.services import Services, build_services, running

log = logging.getLogger("authchaos.http")

AUTHENTICATED_ROUTES = frozenset({"/auth/logout", "/auth/blacklist"})


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class RefreshBody(BaseModel):
    refresh_token: str = Field(min_length=1)


class LogoutBody(BaseModel):
    refresh_token: str | None = None
    all: bool = False


class BlacklistBody(BaseModel):
    tokens: list[str]


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        return "Request body is not valid JSON"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def error_response(exc: Exception) -> JSONResponse:
    """The one place an exception becomes an HTTP answer (routes and the ASGI layers share it)."""
    if isinstance(exc, StoreUnavailable | StoreError):
        exc = ServiceUnavailable("Session store unavailable; retry later", retry_after_s=exc.retry_after_s)
    if isinstance(exc, AuthError):
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=exc.headers)
    return JSONResponse(error_body("internal_error", "Internal server error"), 500)


async def _send_json(send: Send, response: JSONResponse) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class MetricsMiddleware:
    """Counts and times requests by route template (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.metrics = services.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.http_requests.labels(route, str(status)).inc()
            self.metrics.http_latency.labels(route).observe(time.perf_counter() - start)


class BodyLimitMiddleware:
    """413 for a body over the route's limit: by Content-Length before reading, or while it streams."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit(self, path: str) -> int:
        if path == "/auth/blacklist":
            return self.settings.blacklist_max_body_bytes
        return self.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        too_large = PayloadTooLarge(f"Request body larger than {limit} bytes")
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            await _send_json(send, error_response(too_large if length.isdigit() else _bad_length()))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _send_json(send, error_response(too_large))


class _BodyTooLarge(Exception):
    """Raised from inside the receive channel to stop reading a body past its limit."""


def _bad_length() -> AuthError:
    return BadRequest("Content-Length must be a number")


class AuthenticateFirst:
    """Authenticate routes that need a bearer token before their body is read (and, for the
    batch blacklist, check the admin role): a stranger's body is never parsed."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in AUTHENTICATED_ROUTES or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        authorization = dict(scope["headers"]).get(b"authorization")
        try:
            principal = await self.services.cached_auth.authenticate(
                authorization.decode("latin-1") if authorization is not None else None
            )
            if scope["path"] == "/auth/blacklist" and not principal.is_admin:
                raise Forbidden("Blacklisting tokens needs the admin role")
        except (AuthError, StoreUnavailable, StoreError) as exc:
            await _send_json(send, error_response(exc))
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    assert isinstance(principal, Principal)  # AuthenticateFirst put it there before the body was read
    return principal


def install_error_handlers(app: FastAPI) -> None:
    """Every error is an answer with a code; nothing unexpected leaves a traceback in the log."""

    async def on_error(_: Request, exc: Exception) -> Response:
        return error_response(exc)

    async def on_invalid_request(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(error_body("bad_request", _validation_message(exc)), 400)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s: %s", type(exc).__name__, request.url.path, str(exc)[:200])
        return error_response(exc)

    for kind in (AuthError, StoreUnavailable, StoreError):
        app.add_exception_handler(kind, on_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def install_auth_routes(app: FastAPI, svc: Services) -> None:
    settings = svc.settings

    @app.post("/auth/login")
    async def login(body: LoginBody) -> dict[str, Any]:
        return (await svc.auth.login(body.username, body.password)).body()

    @app.post("/auth/refresh")
    async def refresh(body: RefreshBody) -> dict[str, Any]:
        return (await svc.tokens.refresh(body.refresh_token)).body()

    @app.post("/auth/logout")
    async def logout(
        request: Request, body: LogoutBody | None = None, authorization: str | None = Header(None)
    ) -> dict[str, int]:
        body = body or LogoutBody()
        principal = _principal(request)
        revoked = await svc.tokens.logout(principal.verified, principal.token, body.refresh_token, body.all)
        return {"revoked": revoked}

    @app.post("/auth/blacklist")
    async def blacklist(
        request: Request, body: BlacklistBody, authorization: str | None = Header(None)
    ) -> dict[str, int]:
        _principal(request)  # an admin: AuthenticateFirst checked before the body was read
        if len(body.tokens) > settings.blacklist_max:
            raise PayloadTooLarge(f"At most {settings.blacklist_max} tokens per request; split the batch")
        if Bug.MISSING_BATCH_BLACKLIST in settings.bugs:
            raise AttributeError("'TokenService' object has no attribute 'batchBlacklistTokens'")
        return (await svc.tokens.batch_blacklist_tokens(list(body.tokens))).body()

    @app.get("/auth/me")
    async def me(response: Response, authorization: str | None = Header(None)) -> dict[str, Any]:
        principal = await svc.cached_auth.authenticate(authorization)
        if principal.degraded:
            response.headers[DEGRADED_HEADER] = "redis-unavailable"
        return {k: principal.user[k] for k in ("sub", "username", "roles")}

    @app.get("/oauth/callback")
    async def oauth_callback(provider: str, code: str) -> dict[str, Any]:
        return (await svc.oauth.callback(provider, code)).body()


def install_ops_routes(app: FastAPI, svc: Services) -> None:
    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Unauthenticated: the state only. Error texts, URLs and bug switches stay in the log and /metrics."""
        state = svc.ops.state
        age = state.outage_age_s()
        return {
            "status": "ok" if state.state is RedisState.READY else "degraded",
            "redis": {
                "state": state.state.value,
                "breaker": svc.ops.breaker.state.value,
                "outage_s": None if age is None else round(age, 3),
            },
            "pending_families": len(svc.auth.pending),
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _lifespan(svc: Services) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(svc):
            log.info("authchaos reference service on %s", redact_url(svc.settings.redis_url))
            yield

    return lifespan


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else load_settings())
    svc = services or build_services(settings)
    app = FastAPI(title="authchaos reference auth service", lifespan=_lifespan(svc), docs_url=None, redoc_url=None)
    app.state.services = svc
    app.add_middleware(AuthenticateFirst, services=svc)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware, services=svc)
    install_error_handlers(app)
    install_auth_routes(app, svc)
    install_ops_routes(app, svc)
    return app
