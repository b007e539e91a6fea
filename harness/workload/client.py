"""One simulated user: keeps its own tokens and reacts to answers as a real client would.

- always refreshes with its newest refresh token;
- 401 on its session: forgets its tokens and logs in again next time;
- 503: keeps its tokens and waits for Retry-After before the next call;
- a timed-out write leaves it unsure: the op is recorded ``unknown`` and the
  client keeps what it had (as a browser would).
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import jwt

from harness.history import WRITES, History, Op
from reference_impl.jwt_codec import Kind, TokenCodec

DEGRADED_HEADER = "x-auth-degraded"


def peek(token: str | None) -> dict[str, Any]:
    """Claims of a token without verifying it (the client only needs ids for the history)."""
    if not token:
        return {}
    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.InvalidTokenError:
        return {}


class AuthClient:
    def __init__(
        self,
        cid: int,
        http: httpx.AsyncClient,
        history: History,
        rng: random.Random,
        *,
        codec: TokenCodec | None,
        batch_sizes: list[int],
        user: tuple[str, str] = ("alice", "wonderland"),
        admin: tuple[str, str] = ("admin", "admin-secret"),
    ) -> None:
        self.cid = cid
        self.http = http
        self.history = history
        self.rng = rng
        self.codec = codec
        self.batch_sizes = batch_sizes
        self.user = user
        self.admin = admin
        self.access: str | None = None
        self.refresh_token: str | None = None
        self.previous_refresh: str | None = None
        self.admin_access: str | None = None
        self.revoked_access: list[str] = []  # access tokens whose revocation was acknowledged (recent ones)
        self.wait_until = 0.0

    # -- plumbing -------------------------------------------------------------

    async def _call(self, name: str, method: str, url: str, *, token: str | None = None, **kw: Any) -> tuple[Op, Any]:
        op = self.history.start(self.cid, name, time.monotonic_ns())
        claims = peek(token)
        op.token_id, op.family = claims.get("tokenId"), claims.get("family")
        body: Any = None
        try:
            response = await self.http.request(method, url, **kw)
        except httpx.TimeoutException:
            op.end_ns = time.monotonic_ns()
            op.outcome = "unknown" if name in WRITES else "fail"
            op.error = "client_timeout"
            return op, None
        except httpx.TransportError as exc:
            op.end_ns = time.monotonic_ns()
            op.outcome, op.error, op.message = "fail", "service_unreachable", type(exc).__name__
            return op, None
        op.end_ns = time.monotonic_ns()
        op.status = response.status_code
        op.degraded = DEGRADED_HEADER in response.headers
        op.retry_after = response.headers.get("retry-after")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 and isinstance(body, dict):
            op.error, op.message = body.get("error"), body.get("message")
        op.outcome = "ok" if response.status_code < 300 else "fail"
        if response.status_code == 503 and op.retry_after:
            self.wait_until = time.monotonic() + min(float(op.retry_after), 5.0)
        return op, body

    def _take_pair(self, op: Op, body: Any, *, rotated: str | None = None) -> None:
        """Adopt a new pair; ``rotated`` is the refresh token it replaces (kept for replays)."""
        if op.status == 200 and isinstance(body, dict):
            self.previous_refresh = rotated
            self.access, self.refresh_token = body.get("access_token"), body.get("refresh_token")
            claims = peek(self.refresh_token)
            op.new_token_id, op.new_family = claims.get("tokenId"), claims.get("family")

    def _forget_session(self) -> None:
        self.access = self.refresh_token = None

    @staticmethod
    def _bearer(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    # -- operations -----------------------------------------------------------

    def _remember_revoked(self, token: str | None) -> None:
        if token:
            self.revoked_access = [*self.revoked_access[-19:], token]

    async def run(self, name: str) -> None:
        if self.access is None and name not in ("login", "oauth_login", "legacy_refresh", "recheck_revoked"):
            await self.login()
            return
        await getattr(self, name)()

    async def login(self) -> None:
        op, body = await self._call(
            "login", "POST", "/auth/login", json={"username": self.user[0], "password": self.user[1]}
        )
        self._take_pair(op, body)

    async def oauth_login(self) -> None:
        op, body = await self._call(
            "oauth_login", "GET", "/oauth/callback", params={"provider": "demo", "code": f"user:{self.user[0]}"}
        )
        self._take_pair(op, body)

    async def refresh(self) -> None:
        token = self.refresh_token
        op, body = await self._call("refresh", "POST", "/auth/refresh", token=token, json={"refresh_token": token})
        self._take_pair(op, body, rotated=token)
        if op.status == 401:
            self._forget_session()

    async def me(self) -> None:
        op, _ = await self._call("me", "GET", "/auth/me", token=self.access, headers=self._bearer(self.access))
        if op.status == 401:
            self._forget_session()

    async def replay(self) -> None:
        """Present the previous (already rotated) refresh token, as a thief would."""
        token = self.previous_refresh
        if token is None:
            await self.refresh()
            return
        op, _ = await self._call("replay", "POST", "/auth/refresh", token=token, json={"refresh_token": token})
        op.probe = "replayed"
        self.previous_refresh = None
        if op.status == 200:
            return  # a grace-window sibling: the service may allow it
        self._forget_session()  # the family is revoked: log in again

    async def logout(self) -> None:
        access, refresh = self.access, self.refresh_token
        op, _ = await self._call(
            "logout", "POST", "/auth/logout", token=access, headers=self._bearer(access),
            json={"refresh_token": refresh},
        )  # fmt: skip
        if op.status == 200:
            claims = peek(access)
            op.revoked_ids = [claims["tokenId"]] if claims.get("tokenId") else []
            op.revoked_families = sorted({f for f in (claims.get("family"), peek(refresh).get("family")) if f})
            self._forget_session()
            self._remember_revoked(access)
            probe, _ = await self._call("me", "GET", "/auth/me", token=access, headers=self._bearer(access))
            probe.probe = "revoked"
            probe.outcome = "ok" if probe.status == 401 else "fail"
        elif op.status == 401:
            self._forget_session()

    async def recheck_revoked(self) -> None:
        """Present an access token revoked earlier: revocations must survive restarts and outages."""
        if not self.revoked_access:
            await self.run("me")
            return
        token = self.rng.choice(self.revoked_access)
        op, _ = await self._call("recheck_revoked", "GET", "/auth/me", token=token, headers=self._bearer(token))
        op.probe = "revoked"
        op.outcome = "ok" if op.status == 401 else ("unknown" if op.status is None else "fail")

    async def legacy_refresh(self) -> None:
        """Exchange a refresh token of the pre-fix fallback shape (no tokenId/family/type): accepted once."""
        if self.codec is None:
            await self.run("refresh")
            return
        s = self.codec.settings
        now = int(time.time())
        payload = {
            "sub": self.user[0], "userId": self.user[0], "email": f"{self.user[0]}@example.com",
            "iat": now, "exp": now + s.refresh_ttl_s - self.rng.randrange(3600), "iss": s.issuer, "aud": s.audience,
        }  # fmt: skip
        token = self.codec.sign_raw(Kind.REFRESH, payload)
        op, body = await self._call("legacy_refresh", "POST", "/auth/refresh", json={"refresh_token": token})
        self._take_pair(op, body)

    async def blacklist_batch(self) -> None:
        """As admin: revoke a batch of freshly minted access tokens, then check one is rejected."""
        if self.codec is None:
            await self.run("me")
            return
        if self.admin_access is None:
            op, body = await self._call(
                "login", "POST", "/auth/login", json={"username": self.admin[0], "password": self.admin[1]}
            )
            if op.status != 200:
                return
            self.admin_access = body["access_token"]
            return
        size = self.rng.choice(self.batch_sizes)
        tokens = [
            self.codec.encode(
                Kind.ACCESS, {"sub": self.user[0], "tokenId": f"bl-{self.cid}-{self.rng.getrandbits(64):x}"}, ttl_s=600
            )
            for _ in range(size)
        ]
        op, _ = await self._call(
            "blacklist_batch", "POST", "/auth/blacklist", token=self.admin_access,
            headers=self._bearer(self.admin_access), json={"tokens": tokens},
        )  # fmt: skip
        if op.status == 200:
            op.revoked_ids = [peek(t)["tokenId"] for t in tokens]
            victim = self.rng.choice(tokens)
            self._remember_revoked(victim)
            probe, _ = await self._call("me", "GET", "/auth/me", token=victim, headers=self._bearer(victim))
            probe.probe = "revoked"
            probe.outcome = "ok" if probe.status == 401 else "fail"
        elif op.status == 401:
            self.admin_access = None
