"""The HTTP contract, on FastAPI. Every error is ``{"error": CODE, "message": TEXT}``.

Routes are thin: they parse, call one service method, and shape the answer.
The exception handlers are where the degradation policy meets HTTP: a Redis
fault is a 503 with Retry-After on fail-closed paths, never a 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_impl.auth_cache import DEGRADED_HEADER
from reference_impl.bugs import Bug
from reference_impl.config import Settings, load_settings
from reference_impl.errors import AuthError, Forbidden, PayloadTooLarge, ServiceUnavailable
from reference_impl.redis_client import redact_url
from reference_impl.redis_ops import StoreUnavailable
from reference_impl.redis_state import RedisState
from reference_impl.services import Services, build_services, running

log = logging.getLogger("authchaos.http")


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


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else load_settings())
    svc = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(svc):
            log.info("authchaos reference service on %s", redact_url(settings.redis_url))
            yield

    app = FastAPI(title="authchaos reference auth service", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.services = svc
    app.add_middleware(MetricsMiddleware, services=svc)

    @app.exception_handler(AuthError)
    async def on_auth_error(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(StoreUnavailable)
    async def on_store_unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        err = ServiceUnavailable("Session store unavailable; retry later", retry_after_s=exc.retry_after_s)
        return JSONResponse(error_body(err.code, err.message), err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("bad_request", _validation_message(exc)), 400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s: %s", type(exc).__name__, request.url.path, exc)
        return JSONResponse(error_body("internal_error", "Internal server error"), 500)

    @app.post("/auth/login")
    async def login(body: LoginBody) -> dict[str, Any]:
        return (await svc.auth.login(body.username, body.password)).body()

    @app.post("/auth/refresh")
    async def refresh(body: RefreshBody) -> dict[str, Any]:
        return (await svc.tokens.refresh(body.refresh_token)).body()

    @app.post("/auth/logout")
    async def logout(body: LogoutBody | None = None, authorization: str | None = Header(None)) -> dict[str, int]:
        body = body or LogoutBody()
        principal = await svc.cached_auth.authenticate(authorization)
        revoked = await svc.tokens.logout(principal.verified, principal.token, body.refresh_token, body.all)
        return {"revoked": revoked}

    @app.post("/auth/blacklist")
    async def blacklist(body: BlacklistBody, authorization: str | None = Header(None)) -> dict[str, int]:
        principal = await svc.cached_auth.authenticate(authorization)
        if not principal.is_admin:
            raise Forbidden("Blacklisting tokens needs the admin role")
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

    @app.get("/health")
    async def health() -> dict[str, Any]:
        state = svc.ops.state
        age = state.outage_age_s()
        return {
            "status": "ok" if state.state is RedisState.READY else "degraded",
            "redis": {
                "state": state.state.value,
                "breaker": svc.ops.breaker.state.value,
                "outage_s": None if age is None else round(age, 3),
                "last_error": state.last_error if state.state is not RedisState.READY else None,
                "url": redact_url(settings.redis_url),
            },
            "pending_families": len(svc.auth.pending),
            "bugs": sorted(settings.bugs),
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
