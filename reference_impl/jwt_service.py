"""The token service (port of services/auth/JWTService.ts).

Pairs carry ``tokenId``, ``family`` and ``type``. Refresh rotates atomically
in Redis; presenting a rotated token outside the grace window revokes the
whole family. Revocation writes either land in Redis or fail: a revocation
that was not stored is never acknowledged.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from reference_impl.bugs import Bug
from reference_impl.config import Settings
from reference_impl.errors import (
    INVALID_TYPE_FOR_REFRESH,
    Forbidden,
    InvalidToken,
    TokenExpired,
    TokenReused,
    TokenRevoked,
)
from reference_impl.jwt_codec import Kind, TokenCodec, Verified, new_id, token_fingerprint
from reference_impl.local_revocations import LocalRevocations
from reference_impl.metrics import Metrics
from reference_impl.redis_ops import StoreUnavailable
from reference_impl.token_store import TokenStore


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True)
class BlacklistResult:
    blacklisted: int = 0
    expired: int = 0
    invalid: int = 0

    def body(self) -> dict[str, int]:
        return {"blacklisted": self.blacklisted, "expired": self.expired, "invalid": self.invalid}


class UndeliveredRotations:
    """Refresh token id -> the new id proposed when Redis failed mid-rotation (bounded, expiring)."""

    def __init__(self, max_entries: int = 50_000, ttl_s: float = 300.0) -> None:
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s

    def put(self, token_id: str, new_token_id: str) -> None:
        self._items[token_id] = (new_token_id, time.monotonic() + self._ttl)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def pop(self, token_id: str) -> str | None:
        entry = self._items.pop(token_id, None)
        return entry[0] if entry and entry[1] > time.monotonic() else None


def token_id(verified: Verified, token: str) -> str:
    """The id revocations are keyed by: tokenId, or a fingerprint for legacy tokens."""
    tid = verified.claims.get("tokenId")
    return tid if isinstance(tid, str) and tid else token_fingerprint(token)


class TokenService:
    def __init__(
        self,
        settings: Settings,
        codec: TokenCodec,
        store: TokenStore,
        local: LocalRevocations,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.store = store
        self.local = local
        self.metrics = metrics
        self.undelivered = UndeliveredRotations()

    # -- issuing -------------------------------------------------------------

    def mint(self, sub: str, family: str, refresh_token_id: str, *, fallback: bool = False) -> TokenPair:
        s = self.settings
        access = self.codec.encode(
            Kind.ACCESS, {"sub": sub, "tokenId": new_id(), "family": family}, ttl_s=s.access_ttl_s
        )
        claims: dict[str, Any] = {"sub": sub, "tokenId": refresh_token_id, "family": family}
        if fallback:
            claims["fb"] = True  # issued while Redis was down: its family may be adopted on first refresh
        refresh = self.codec.encode(Kind.REFRESH, claims, ttl_s=s.refresh_ttl_s)
        return TokenPair(access, refresh, s.access_ttl_s)

    # -- refresh -------------------------------------------------------------

    async def refresh(self, token: object) -> TokenPair:
        try:
            verified = self.codec.verify(token, Kind.REFRESH)
        except (InvalidToken, TokenExpired) as exc:
            self.metrics.refresh_rejected.labels(exc.code).inc()
            raise
        assert isinstance(token, str)
        if verified.is_legacy:
            if Bug.STRICT_TYPE in self.settings.bugs and not verified.claims.get("type"):
                self.metrics.refresh_rejected.labels("invalid_token").inc()
                raise InvalidToken(INVALID_TYPE_FOR_REFRESH)
            return await self._upgrade_legacy(token, verified)
        c = verified.claims
        family, sub, tid = str(c["family"]), str(c["sub"]), str(c["tokenId"])
        if self.local.is_revoked(tid, family):
            raise TokenRevoked("Refresh token revoked")
        # A rotation whose answer was lost (Redis timed out after running it) must not turn the
        # client's retry into "reuse": the retry proposes the same new id, which the script accepts.
        new_tid = self.undelivered.pop(tid) or new_id()
        try:
            rotation = await self.store.rotate(
                family,
                sub,
                tid,
                new_tid,
                now_ms=int(time.time() * 1000),
                grace_ms=int(self.settings.reuse_grace_s * 1000),
                adopt=bool(c.get("fb")),
            )
        except StoreUnavailable:
            self.undelivered.put(tid, new_tid)
            raise
        if rotation.status in ("ok", "grace"):
            self.metrics.tokens_issued.labels("refresh").inc()
            return self.mint(sub, family, rotation.refresh_token_id)
        self.metrics.refresh_rejected.labels(rotation.status).inc()
        if rotation.status == "reused":
            self.local.family(family, self.settings.refresh_ttl_s)
            self.metrics.revocations.labels("family").inc()
            raise TokenReused("Refresh token reuse detected: every token of this session is revoked")
        if rotation.status == "revoked":
            raise TokenRevoked("Refresh token revoked")
        if rotation.status == "unknown":
            raise TokenRevoked("Session not found (expired or lost): log in again")
        raise InvalidToken("Token subject does not match its session")

    async def _upgrade_legacy(self, token: str, verified: Verified) -> TokenPair:
        """Accept a pre-fix refresh token once, moving the user into a new family."""
        sub = str(verified.claims["sub"])
        family, refresh_id = new_id(), new_id()
        remaining = max(1, int(verified.claims["exp"] - time.time()) + self.settings.leeway_s)
        status = await self.store.upgrade_legacy(
            token_fingerprint(token), family, sub, refresh_id, legacy_ttl_s=remaining
        )
        if status == "revoked":
            raise TokenRevoked("Refresh token revoked")
        if status != "ok":
            self.metrics.refresh_rejected.labels("token_reused").inc()
            raise TokenReused("Legacy refresh token was already exchanged")
        self.metrics.tokens_issued.labels("legacy_upgrade").inc()
        return self.mint(sub, family, refresh_id)

    # -- verifying -----------------------------------------------------------

    def verify_access(self, token: object) -> Verified:
        return self.codec.verify(token, Kind.ACCESS)

    # -- revoking ------------------------------------------------------------

    def _revocation_target(self, token: object) -> tuple[str, str, int, str | None]:
        """(outcome, token id, ttl, family to revoke) for one token to blacklist."""
        try:
            kind, verified = self.codec.verify_any(token)
        except TokenExpired:
            return "expired", "", 0, None
        except InvalidToken:
            return "invalid", "", 0, None
        assert isinstance(token, str)
        ttl = int(verified.claims["exp"] - time.time()) + self.settings.leeway_s
        if ttl <= 0:  # Redis rejects EX <= 0; an expired token needs no entry
            return "expired", "", 0, None
        family = verified.claims.get("family") if kind is Kind.REFRESH else None
        return "blacklisted", token_id(verified, token), ttl, family if isinstance(family, str) else None

    async def blacklist(self, token: object) -> str:
        """Revoke one token; returns blacklisted / expired / invalid."""
        return next(k for k, v in (await self.batch_blacklist_tokens([token])).body().items() if v)

    async def batch_blacklist_tokens(self, tokens: list[object]) -> BlacklistResult:
        """Revoke many tokens: one pipelined round trip per chunk; repeating a call changes nothing.

        Tokens are validated chunk by chunk, each chunk's pipeline sent before the next is
        validated, so a 10,000-token batch does not hold the event loop for its whole CPU time.
        """
        expired = invalid = 0
        chunk = self.settings.blacklist_chunk
        for start in range(0, len(tokens), chunk):
            entries: dict[str, int] = {}
            families: set[str] = set()
            for token in tokens[start : start + chunk]:
                outcome, tid, ttl, family = self._revocation_target(token)
                if outcome == "expired":
                    expired += 1
                elif outcome == "invalid":
                    invalid += 1
                else:
                    entries[tid] = max(ttl, entries.get(tid, 0))
                    if family:
                        families.add(family)
            await self.store.blacklist(list(entries.items()), sorted(families), op="blacklist_chunk")
            for tid, ttl in entries.items():
                self.local.token(tid, ttl)
            for family in families:
                self.local.family(family, self.settings.refresh_ttl_s)
            self.metrics.revocations.labels("token").inc(len(entries))
            self.metrics.revocations.labels("family").inc(len(families))
        return BlacklistResult(len(tokens) - expired - invalid, expired, invalid)

    async def logout(self, access: Verified, access_token: str, refresh_token: object, all_sessions: bool) -> int:
        """Revoke this session (and, with ``all_sessions``, every session of the user); returns sessions revoked."""
        sub = str(access.claims["sub"])
        families: set[str] = set()
        if isinstance(access.claims.get("family"), str):
            families.add(access.claims["family"])
        if refresh_token is not None:
            refresh = self.codec.verify(refresh_token, Kind.REFRESH)
            if refresh.claims["sub"] != sub:
                raise Forbidden("The refresh token belongs to another user")
            if isinstance(refresh.claims.get("family"), str):
                families.add(refresh.claims["family"])
        if all_sessions:
            families |= await self.store.revoke_user(sub)
        ttl = int(access.claims["exp"] - time.time()) + self.settings.leeway_s
        tid = token_id(access, access_token)
        await self.store.blacklist([(tid, max(ttl, 1))], sorted(families), op="logout")
        self.local.token(tid, max(ttl, 1))
        for family in families:
            self.local.family(family, self.settings.refresh_ttl_s)
        self.metrics.revocations.labels("family").inc(len(families))
        return max(len(families), 1)
