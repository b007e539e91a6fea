"""The HTTP contract, on FastAPI. Every error is ``{"error": CODE, "message": TEXT}``.

Routes are thin: they parse, call one service method, and shape the answer.
The exception handlers are where the degradation policy meets HTTP: a Redis
fault is a 503 with Retry-After on fail-closed paths, never a 500. One ASGI
layer (``front.Front``) runs before any body is parsed: admission control, a
size limit, and authentication for the routes that need it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from authchaos_reference.auth_app import AuthApp
from authchaos_reference.auth_cache import DEGRADED_HEADER, Principal
from authchaos_reference.bugs import Bug
from authchaos_reference.config import Settings, load_settings
from authchaos_reference.errors import AuthError, BadRequest, PayloadTooLarge
from authchaos_reference.front import BodyTooLarge, Front, error_body, error_response
from authchaos_reference.login_throttle import client_address, forwarded_without_header
from authchaos_reference.redis_client import redact_url
from authchaos_reference.redis_ops import StoreError, StoreUnavailable
from authchaos_reference.redis_state import RedisState
from authchaos_reference.services import Services, build_services, running

log = logging.getLogger("authchaos.http")
# FastAPI's built-in OpenTelemetry hooks ask the provider registry on every request; /metrics is ours.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
FAST_PATHS = ("/auth/me", "/auth/refresh")
# Token answers must never be stored by a cache on the way (RFC 6749 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


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


AUTHORIZATION_PARAMETER = {"name": "authorization", "in": "header", "required": False, "schema": {"type": "string"}}


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


Model = TypeVar("Model", bound=BaseModel)


async def json_body(request: Request, model: type[Model]) -> Model:
    """Parse and validate a JSON body as FastAPI would for ``body: Model``, for routes taking the bare Request."""
    media = request.headers.get("content-type", "application/json").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise BadRequest("body: send JSON (Content-Type: application/json)")
    raw = await request.body()
    if not raw:
        raise BadRequest("body: Field required")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(_validation_message(list(exc.errors()))) from None


def _validation_message(errors: list[Any]) -> str:
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "Request body is not valid JSON"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def _principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    assert isinstance(principal, Principal)  # Front put it there before the body was read
    return principal


def install_error_handlers(app: FastAPI) -> None:
    """Every error is an answer with a code; nothing unexpected leaves a traceback in the log."""

    async def on_error(_: Request, exc: Exception) -> Response:
        return error_response(exc)

    async def on_invalid_request(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(error_body("bad_request", _validation_message(list(exc.errors()))), 400)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, BodyTooLarge):  # FastAPI's body reader wraps Front's signal in a 400
            return error_response(PayloadTooLarge(str(exc.__cause__)))
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


def _login_address(header: str) -> Callable[[Request], str]:
    """The throttle's client address of a login; the first login through an undeclared proxy is logged."""
    warned: list[bool] = []

    def address(request: Request) -> str:
        if not warned and forwarded_without_header(request.scope, header):
            warned.append(True)
            log.warning(
                "logins arrive with X-Forwarded-For/Forwarded but AUTHCHAOS_LOGIN_CLIENT_HEADER is unset: the "
                "login throttle counts every client as the proxy's address; set it to the header your proxy appends"
            )
        return client_address(request.scope, header)

    return address


def install_auth_routes(app: FastAPI, svc: Services) -> None:
    settings = svc.settings

    login_address = _login_address(settings.login_client_header)

    @app.post("/auth/login")
    async def login(body: LoginBody, request: Request) -> Response:
        address = login_address(request)
        return JSONResponse((await svc.auth.login(body.username, body.password, address)).body(), headers=NO_STORE)

    # The two hottest paths take the bare Request and answer a Response, so AuthApp can serve them directly
    # (``FAST_PATHS``); ``openapi_extra`` keeps their contract in the schema the fuzzer reads.
    @app.post("/auth/refresh", openapi_extra=_json_body(RefreshBody))
    async def refresh(request: Request) -> Response:
        body = await json_body(request, RefreshBody)
        return JSONResponse((await svc.tokens.refresh(body.refresh_token)).body(), headers=NO_STORE)

    @app.post("/auth/logout")
    async def logout(
        request: Request, body: LogoutBody | None = None, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        body = body or LogoutBody()
        principal = _principal(request)
        return (await svc.tokens.logout(principal.verified, principal.token, body.refresh_token, body.all)).body()

    @app.post("/auth/blacklist")
    async def blacklist(
        request: Request, body: BlacklistBody, authorization: str | None = Header(None)
    ) -> dict[str, int]:
        _principal(request)  # an admin: Front checked before the body was read
        if len(body.tokens) > settings.blacklist_max:
            raise PayloadTooLarge(f"At most {settings.blacklist_max} tokens per request; split the batch")
        if Bug.MISSING_BATCH_BLACKLIST in settings.bugs:
            raise AttributeError("'TokenService' object has no attribute 'batchBlacklistTokens'")
        return (await svc.tokens.batch_blacklist_tokens(list(body.tokens))).body()

    @app.get("/auth/me", openapi_extra={"parameters": [AUTHORIZATION_PARAMETER]})
    async def me(request: Request) -> Response:
        principal = await svc.cached_auth.authenticate(request.headers.get("authorization"))
        user = principal.user
        headers = {DEGRADED_HEADER: "redis-unavailable"} if principal.degraded else None
        return JSONResponse({"sub": user["sub"], "username": user["username"], "roles": user["roles"]}, headers=headers)

    @app.get("/oauth/authorize", status_code=302, response_class=RedirectResponse)
    async def oauth_authorize(provider: str, login_hint: str = "") -> RedirectResponse:
        return RedirectResponse(svc.oauth.authorize(provider, login_hint), 302, headers=NO_STORE)

    @app.get("/oauth/callback")
    async def oauth_callback(provider: str, code: str, state: str | None = None) -> Response:
        return JSONResponse((await svc.oauth.callback(provider, code, state)).body(), headers=NO_STORE)


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
            "load": {
                "inflight": svc.load.inflight,
                "loop_lag_ms": round(svc.load.lag_s * 1000, 1),
                "shed": svc.load.shed,
            },
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
    app = AuthApp(
        title="authchaos reference auth service",
        lifespan=_lifespan(svc),
        docs_url=None,
        redoc_url=None,
        openapi_url=None if settings.env == "production" else "/openapi.json",  # no map of the API in production
        telemetry=NO_TELEMETRY,
    )
    app.state.services = svc
    app.front = Front(app.dispatch, svc)
    install_error_handlers(app)
    install_auth_routes(app, svc)
    install_ops_routes(app, svc)
    app.serve_directly(FAST_PATHS)
    return app
