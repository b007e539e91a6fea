"""FastAPI with one ASGI layer in front of it, and the hottest routes served from that layer.

Why: FastAPI adds four ASGI layers, a routing pass and a request wrapper to every request, about a third of
a /auth/me's CPU. The routes named in ``fast_routes`` are the app's own FastAPI endpoints (documented in its
schema, taking the bare Request); an exact method-and-path match calls them directly and maps their
exceptions with the app's own exception handlers, so both ways answer alike. Everything else goes to FastAPI.
Middleware belongs in ``front.Front``: one added with ``add_middleware`` would not see the direct routes.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from authchaos_reference.front import BodyTooLarge

Endpoint = Callable[[Request], Awaitable[Response]]


class AuthApp(FastAPI):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.front: ASGIApp = self.dispatch
        self.fast_routes: dict[tuple[str, str], Endpoint] = {}

    def serve_directly(self, paths: Iterable[str]) -> None:
        """Serve these routes (already declared, each taking only the Request) without FastAPI's layers."""
        wanted = set(paths)
        for route in self.routes:
            if isinstance(route, APIRoute) and route.path in wanted:
                for method in route.methods or ():
                    self.fast_routes[(method, route.path)] = route.endpoint
                wanted.discard(route.path)
        if wanted:
            raise ValueError(f"no such route to serve directly: {', '.join(sorted(wanted))}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.front(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.fast_routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except BodyTooLarge:
            raise  # Front answers 413
        except ClientDisconnect:
            return  # nobody left to answer
        except Exception as exc:
            response = await self._handled(request, exc)
        await response(scope, receive, send)

    async def _handled(self, request: Request, exc: Exception) -> Response:
        for kind in type(exc).__mro__:
            handler = self.exception_handlers.get(kind)
            if handler is not None:
                answer = handler(request, exc)
                return await answer if inspect.isawaitable(answer) else answer
        raise exc
