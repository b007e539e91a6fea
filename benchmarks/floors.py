"""Floor apps: the least a server built from the service's own libraries must do for each path.

Each is a bare Starlette app doing the same library work per request as the service path it bounds, and
nothing else (no middleware, no metrics, no breaker, no FastAPI validation):

  trivial_app        a JSON answer (and a fixed /auth/login and /auth/me, for the Locust driver)
  me_floor_app       one PyJWT HS256 verify (same claims and options) and one pipelined EXISTS+GET
  refresh_floor_app  one verify, one EVALSHA of the service's own rotation script, two signs
  batch_floor_app    N verifies and one pipelined SET ... EX per chunk of 1000

Module-level factories for ``uvicorn --factory``; settings (secrets, issuer, audience, leeway, Redis URL)
come from the same ``AUTHCHAOS_*`` environment as the service. ``FloorServer`` runs one under uvicorn
with the settings ``authchaos serve`` uses.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import jwt
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authchaos.servers.processes import ManagedProcess, StartError, free_port, wait_until
from authchaos_reference.config import Settings, load_settings
from authchaos_reference.jwt_codec import REQUIRED, TYP_HEADER, Kind, kid_for
from authchaos_reference.redis_client import create_redis
from authchaos_reference.token_store import (
    ROTATE,
    bl_key,
    fam_key,
    famrev_key,
    userfams_key,
    userrev_key,
)

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1000
USERS = {"alice": {"sub": "alice", "username": "alice", "roles": ["user"]}}  # the floor's directory, in memory


class Keys:
    """What PyJWT needs, read once from the service's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.access = settings.jwt_access_secret.get_secret_value().encode()
        self.refresh = settings.jwt_refresh_secret.get_secret_value().encode()
        self.refresh_kid = kid_for(Kind.REFRESH, settings.jwt_refresh_secret.get_secret_value())
        self.access_kid = kid_for(Kind.ACCESS, settings.jwt_access_secret.get_secret_value())

    def verify(self, token: str, key: bytes) -> dict[str, Any]:
        s = self.settings
        return jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            issuer=s.issuer,
            audience=s.audience,
            leeway=s.leeway_s,
            options={"require": REQUIRED, "strict_aud": True},
        )

    def sign(self, kind: Kind, claims: dict[str, Any], ttl_s: int, now: int) -> str:
        body = {
            **claims,
            "type": kind.value,
            "iat": now,
            "exp": now + ttl_s,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
        }
        key, kid = (self.access, self.access_kid) if kind is Kind.ACCESS else (self.refresh, self.refresh_kid)
        return jwt.encode(body, key, algorithm="HS256", headers={"kid": kid, "typ": TYP_HEADER[kind]})


def _app(routes: list[Route], on_start: Callable[[Redis], Any] | None = None) -> Starlette:
    """A Starlette app with /health and, when it needs one, a Redis client opened and closed by its lifespan."""

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_start is None:
            yield
            return
        app.state.redis = create_redis(load_settings())  # the service's own client: same timeouts and parser
        await on_start(app.state.redis)
        yield
        await app.state.redis.aclose()

    return Starlette(routes=[Route("/health", health), *routes], lifespan=lifespan)


def trivial_app() -> Starlette:
    """The server's ceiling: no token work, no Redis. Answers the Locust ApiUser's login and /auth/me."""
    keys = Keys(load_settings())
    now = int(time.time())
    pair = {
        "access_token": keys.sign(Kind.ACCESS, {"sub": "alice", "tokenId": "t", "family": "f"}, 3600, now),
        "refresh_token": keys.sign(Kind.REFRESH, {"sub": "alice", "tokenId": "r", "family": "f"}, 3600, now),
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    user = {"sub": "alice", "username": "alice", "roles": ["user"]}

    async def hello(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def login(_: Request) -> JSONResponse:
        return JSONResponse(pair)

    async def me(_: Request) -> JSONResponse:
        return JSONResponse(user)

    return _app([Route("/", hello), Route("/auth/login", login, methods=["POST"]), Route("/auth/me", me)])


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def me_floor_app() -> Starlette:
    """GET /auth/me: verify the bearer token, then EXISTS bl+famrev and GET the cached user in one pipeline."""
    keys = Keys(load_settings())

    async def me(request: Request) -> JSONResponse:
        try:
            claims = keys.verify(_bearer(request), keys.access)
        except jwt.InvalidTokenError:
            return JSONResponse({"error": "invalid_token"}, 401)
        pipe = request.app.state.redis.pipeline(transaction=False)
        pipe.exists(bl_key(claims["tokenId"]), famrev_key(claims["family"]))
        pipe.get(userrev_key(claims["sub"]))  # the logout-all time; the user record is in memory, as the service's
        revoked, _ = await pipe.execute()
        if revoked:
            return JSONResponse({"error": "token_revoked"}, 401)
        user = USERS.get(claims["sub"]) or {"sub": claims["sub"], "username": claims["sub"], "roles": []}
        return JSONResponse({k: user[k] for k in ("sub", "username", "roles")})

    async def noop(_: Redis) -> None:
        return None

    return _app([Route("/auth/me", me)], noop)


def refresh_floor_app() -> Starlette:
    """POST /auth/refresh: verify, one EVALSHA of ``token_store.ROTATE`` (SCRIPT LOADed at start), two signs."""
    settings = load_settings()
    keys = Keys(settings)
    sha: list[str] = []

    async def load(redis: Redis) -> None:
        sha.append(await redis.script_load(ROTATE))

    async def refresh(request: Request) -> JSONResponse:
        try:
            c = keys.verify((await request.json())["refresh_token"], keys.refresh)
        except jwt.InvalidTokenError:
            return JSONResponse({"error": "invalid_token"}, 401)
        family, sub, tid, new_tid, now = c["family"], c["sub"], c["tokenId"], secrets.token_urlsafe(16), time.time()
        status, current = await request.app.state.redis.evalsha(
            sha[0],
            5,
            fam_key(family),
            famrev_key(family),
            bl_key(tid),
            userfams_key(sub),
            userrev_key(sub),
            tid,
            new_tid,
            int(now * 1000),
            0,
            settings.refresh_ttl_s,
            sub,
            "0",
            family,
            (int(c["iat"]) + 1) * 1000,
        )
        if status not in ("ok", "grace"):
            return JSONResponse({"error": status}, 401)
        access = keys.sign(
            Kind.ACCESS,
            {"sub": sub, "tokenId": secrets.token_urlsafe(16), "family": family},
            settings.access_ttl_s,
            int(now),
        )
        refresh = keys.sign(
            Kind.REFRESH, {"sub": sub, "tokenId": current, "family": family}, settings.refresh_ttl_s, int(now)
        )
        return JSONResponse(
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": settings.access_ttl_s,
            }
        )

    return _app([Route("/auth/refresh", refresh, methods=["POST"])], load)


def batch_floor_app() -> Starlette:
    """POST /auth/blacklist: verify every token, one pipelined ``SET bl:{id} 1 EX ttl`` per chunk of 1000."""
    settings = load_settings()
    keys = Keys(settings)

    async def blacklist(request: Request) -> JSONResponse:
        tokens = (await request.json())["tokens"]
        done = invalid = 0
        for start in range(0, len(tokens), CHUNK):
            pipe = request.app.state.redis.pipeline(transaction=False)
            now = time.time()
            for token in tokens[start : start + CHUNK]:
                try:
                    claims = keys.verify(token, keys.access)
                except jwt.InvalidTokenError:
                    invalid += 1
                    continue
                pipe.set(bl_key(claims["tokenId"]), "1", ex=max(1, int(claims["exp"]) + settings.leeway_s - int(now)))
                done += 1
            await pipe.execute()
        return JSONResponse({"blacklisted": done, "expired": 0, "invalid": invalid})

    async def noop(_: Redis) -> None:
        return None

    return _app([Route("/auth/blacklist", blacklist, methods=["POST"])], noop)


class FloorServer:
    """One floor app under uvicorn, as ``authchaos serve`` runs the service (default loop and HTTP, no access log)."""

    def __init__(self, factory: str, redis_url: str | None = None, workers: int = 1) -> None:
        self.factory = factory
        self.redis_url = redis_url
        self.workers = workers
        self.port = free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FloorServer:
        env = {**os.environ, **({"AUTHCHAOS_REDIS_URL": self.redis_url} if self.redis_url else {})}
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            f"benchmarks.floors:{self.factory}",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
        ]
        log = Path(tempfile.mkdtemp(prefix="authchaos-floor-")) / "floor.log"
        self.process = proc = ManagedProcess(f"floor:{self.factory}", argv, log, env=env, cwd=ROOT)
        proc.spawn()
        if not wait_until(lambda: _healthy(self.url) or not proc.alive(), 20, 0.05) or not proc.alive():
            proc.stop()
            raise StartError(f"{self.factory} did not start on {self.url}: {proc.log_tail()}")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.process is not None:
            self.process.stop(timeout_s=8)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
