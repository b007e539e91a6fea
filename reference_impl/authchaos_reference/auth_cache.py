"""Cached auth middleware (port of middlewares/authWithCache.ts) and its degradation policy.

Healthy: one Redis round trip checks revocation and the user's logout-all time. The user record, roles
included, comes from this process's directory (``users.UserStore``) on every request: the original
middleware cached it in Redis for five minutes, shared by every process and surviving restarts, so a
demoted admin kept the role and a deleted user kept access (ASVS 5.0 7.4.2, 8.3).
Redis down: accept on signature and claims alone for ``degraded_max_s`` after
the outage began (still honouring this process's own revocations), then 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authchaos_reference.config import Settings
from authchaos_reference.errors import InvalidToken, MissingCredentials, ServiceUnavailable, TokenRevoked
from authchaos_reference.jwt_codec import Verified
from authchaos_reference.jwt_service import TokenService, issued_upper_ms, token_id
from authchaos_reference.metrics import Metrics
from authchaos_reference.redis_ops import RedisOperations, StoreUnavailable
from authchaos_reference.users import User, UserStore

DEGRADED_HEADER = "X-Auth-Degraded"


@dataclass(frozen=True)
class Principal:
    user: dict[str, Any]
    token: str
    verified: Verified
    degraded: bool

    @property
    def is_admin(self) -> bool:
        return "admin" in self.user.get("roles", [])


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise MissingCredentials("Missing Authorization header: send 'Authorization: Bearer <access token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header must be 'Bearer <access token>'")
    return token.strip()


class CachedAuth:
    def __init__(
        self, tokens: TokenService, users: UserStore, ops: RedisOperations, settings: Settings, metrics: Metrics
    ) -> None:
        self.tokens = tokens
        self.users = users
        self.ops = ops
        self.settings = settings
        self.metrics = metrics

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        verified = self.tokens.verify_access(token)
        claims = verified.claims
        sub = str(claims["sub"])
        tid = token_id(verified, token)
        family = claims.get("family") if isinstance(claims.get("family"), str) else None
        if self.tokens.local.is_revoked(tid, family):
            raise TokenRevoked("Token revoked")
        try:
            found = await self.tokens.store.auth_lookup(tid, family, sub)
        except StoreUnavailable as exc:
            return self._degraded(token, verified, exc)
        if found.revoked or _issued_before(claims, found.user_revoked_at_ms):
            raise TokenRevoked("Token revoked")
        return Principal(self._lookup_user(sub).record(), token, verified, degraded=False)

    def _degraded(self, token: str, verified: Verified, exc: StoreUnavailable) -> Principal:
        age = self.ops.state.outage_age_s() or 0.0
        window = self.settings.degraded_max_s
        if age > window:
            raise ServiceUnavailable(
                f"Session store unavailable for {age:.0f}s, longer than the {window:.0f}s degraded window",
                retry_after_s=exc.retry_after_s,
            )
        record = self._lookup_user(str(verified.claims["sub"])).record()
        self.metrics.degraded_accepts.inc()
        return Principal(record, token, verified, degraded=True)

    def _lookup_user(self, sub: str) -> User:
        user = self.users.active(sub)
        if user is None:
            raise TokenRevoked("The account was removed or disabled: its sessions have ended")
        return user


def _issued_before(claims: dict[str, Any], revoked_at_ms: int | None) -> bool:
    """Was the token certainly issued before the user's logout-all? (``iat`` has one-second resolution.)"""
    return revoked_at_ms is not None and issued_upper_ms(claims) <= revoked_at_ms
