"""The token service (port of services/auth/JWTService.ts).

Pairs carry ``tokenId``, ``family`` and ``type``. Refresh rotates atomically
in Redis; presenting a rotated token outside the grace window revokes the
whole family. Revocation writes either land in Redis or fail: a revocation
that was not stored is never acknowledged.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from authchaos_reference.bugs import Bug
from authchaos_reference.config import Settings
from authchaos_reference.errors import (
    INVALID_TYPE_FOR_REFRESH,
    AuthError,
    InvalidToken,
    TokenExpired,
    TokenReused,
    TokenRevoked,
)
from authchaos_reference.jwt_codec import Kind, TokenCodec, Verified, new_id, token_fingerprint
from authchaos_reference.local_revocations import LocalRevocations
from authchaos_reference.metrics import Metrics
from authchaos_reference.overload import Overloaded
from authchaos_reference.redis_ops import StoreUnavailable
from authchaos_reference.token_store import TokenEntry, TokenStore
from authchaos_reference.users import UserStore

SLICE_S = 0.005  # the longest a batch validates before letting other requests run


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
class LogoutResult:
    revoked: int  # sessions (families) revoked
    refresh_token: str | None = None  # why the presented refresh token was not revoked, if it was not

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"revoked": self.revoked}
        if self.refresh_token is not None:
            out["not_revoked"] = {"refresh_token": self.refresh_token}
        return out


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
    """The id an access token's revocation is keyed by: tokenId, or a fingerprint for legacy tokens."""
    tid = verified.claims.get("tokenId")
    return tid if isinstance(tid, str) and tid else token_fingerprint(token)


def remaining_s(claims: dict[str, Any], leeway_s: int, now: float | None = None) -> int:
    """Seconds a token can still be accepted, rounded up: a revocation must never expire before its token."""
    left = float(claims["exp"]) + leeway_s - (time.time() if now is None else now)
    return math.ceil(left)


def session_start(claims: dict[str, Any]) -> int:
    """When the session began: ``auth_time`` (carried by every rotation), else the token's own ``iat``.

    A token from before ``auth_time`` existed (and a legacy one) starts its session no later than it was issued.
    """
    started = claims.get("auth_time")
    issued = int(claims["iat"])
    return min(started, issued) if isinstance(started, int) and not isinstance(started, bool) else issued


def issued_upper_ms(claims: dict[str, Any]) -> int:
    """The latest instant (ms) the token can have been issued: ``iat`` has one-second resolution."""
    return (int(claims["iat"]) + 1) * 1000


@dataclass(frozen=True)
class Revocation:
    """What revoking one token writes: a token entry, a family, or a legacy refresh token (and its family)."""

    token: tuple[str, int] | None = None
    family: str | None = None
    legacy: tuple[str, int] | None = None
    sub: str = ""  # whose token: on a cluster the entry lives in that user's slot


class TokenService:
    def __init__(
        self,
        settings: Settings,
        codec: TokenCodec,
        store: TokenStore,
        local: LocalRevocations,
        metrics: Metrics,
        accounts: UserStore,
    ) -> None:
        self.settings = settings
        self.accounts = accounts  # refresh asks it whether the account still exists and is enabled
        self.codec = codec
        self.store = store
        self.local = local
        self.metrics = metrics
        self._refreshed = metrics.tokens_issued.labels("refresh")  # the hot path's child, looked up once
        self.undelivered = UndeliveredRotations()
        self.pending = PendingFamilies()

    # -- issuing -------------------------------------------------------------

    def mint(
        self, sub: str, family: str, refresh_token_id: str, *, fallback: bool = False, auth_time: int | None = None
    ) -> TokenPair:
        """A pair for a session that began at ``auth_time`` (now, for a login): neither token outlives the
        session's absolute lifetime (``session_max_s``), however often it rotates."""
        s = self.settings
        now = int(time.time())
        started = now if auth_time is None else auth_time
        access_ttl, refresh_ttl = s.access_ttl_s, s.refresh_ttl_s
        if s.session_max_s:
            left = max(1, started + s.session_max_s - now)
            access_ttl, refresh_ttl = min(access_ttl, left), min(refresh_ttl, left)
        access = self.codec.encode(
            Kind.ACCESS,
            {"sub": sub, "tokenId": new_id(), "family": family, "auth_time": started},
            ttl_s=access_ttl,
            now=now,
        )
        claims: dict[str, Any] = {"sub": sub, "tokenId": refresh_token_id, "family": family, "auth_time": started}
        if fallback:
            claims["fb"] = True  # issued while Redis was down: its family may be adopted on first refresh
        refresh = self.codec.encode(Kind.REFRESH, claims, ttl_s=refresh_ttl, now=now)
        return TokenPair(access, refresh, access_ttl)

    # -- refresh -------------------------------------------------------------

    async def refresh(self, token: object) -> TokenPair:
        try:
            verified = self.codec.verify(token, Kind.REFRESH)
        except (InvalidToken, TokenExpired) as exc:
            self.metrics.refresh_rejected.labels(exc.code).inc()
            raise
        assert isinstance(token, str)  # verify() accepts only non-empty strings
        self._session_may_continue(verified.claims)
        if verified.is_legacy:
            if Bug.STRICT_TYPE in self.settings.bugs and not verified.claims.get("type"):
                self.metrics.refresh_rejected.labels("invalid_token").inc()
                raise InvalidToken(INVALID_TYPE_FOR_REFRESH)
            return await self._upgrade_legacy(token, verified)
        return await self._rotate(verified)

    def _session_may_continue(self, claims: dict[str, Any]) -> None:
        """The account must still exist and be enabled, and the session be younger than its absolute lifetime."""
        if self.accounts.active(str(claims["sub"])) is None:
            self.metrics.refresh_rejected.labels("token_revoked").inc()
            raise TokenRevoked("The account was removed or disabled: its sessions have ended")
        limit = self.settings.session_max_s
        if limit and time.time() >= session_start(claims) + limit:
            self.metrics.refresh_rejected.labels("token_expired").inc()
            raise TokenExpired(f"The session reached its absolute lifetime ({limit} s since login): log in again")

    async def _rotate(self, verified: Verified) -> TokenPair:
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
                issued_upper_ms=issued_upper_ms(c),
            )
        except (StoreUnavailable, Overloaded):  # the script may have run: a retry must propose the same id
            self.undelivered.put(tid, new_tid)
            raise
        if rotation.status in ("ok", "grace"):
            self._refreshed.inc()
            return self.mint(sub, family, rotation.refresh_token_id, auth_time=session_start(c))
        raise self._rotation_refused(rotation.status, family)

    def _rotation_refused(self, status: str, family: str) -> AuthError:
        self.metrics.refresh_rejected.labels(status).inc()
        if status == "reused":
            self.local.family(family, self.settings.refresh_ttl_s)
            self.metrics.revocations.labels("family").inc()
            return TokenReused("Refresh token reuse detected: every token of this session is revoked")
        if status == "revoked":
            return TokenRevoked("Refresh token revoked")
        if status == "unknown":
            return TokenRevoked("Session not found (expired or lost): log in again")
        return InvalidToken("Token subject does not match its session")

    async def _upgrade_legacy(self, token: str, verified: Verified) -> TokenPair:
        """Accept a pre-fix refresh token once, moving the user into a new family.

        Replaying it revokes that family (RFC 9700 4.14.2). A retry after a lost answer proposes
        the same family and token id again, which the script accepts as the same upgrade.
        """
        sub = str(verified.claims["sub"])
        fingerprint = token_fingerprint(token)
        proposal = self.undelivered.pop("legacy:" + fingerprint)
        family, refresh_id = proposal.split(" ") if proposal else (new_id(), new_id())
        try:
            status, owner = await self.store.upgrade_legacy(
                fingerprint,
                family,
                sub,
                refresh_id,
                legacy_ttl_s=max(1, remaining_s(verified.claims, self.settings.leeway_s)),
                issued_upper_ms=issued_upper_ms(verified.claims),
            )
        except (StoreUnavailable, Overloaded):
            self.undelivered.put("legacy:" + fingerprint, f"{family} {refresh_id}")
            raise
        if status == "ok":
            self.metrics.tokens_issued.labels("legacy_upgrade").inc()
            return self.mint(sub, family, refresh_id, auth_time=session_start(verified.claims))
        if status == "reused":
            raise self._rotation_refused("reused", owner)
        self.metrics.refresh_rejected.labels("token_revoked").inc()
        raise TokenRevoked("Refresh token revoked")

    # -- verifying -----------------------------------------------------------

    def verify_access(self, token: object) -> Verified:
        return self.codec.verify(token, Kind.ACCESS)

    # -- revoking ------------------------------------------------------------

    def revocation_of(self, kind: Kind, verified: Verified, token: str) -> Revocation:
        """What to write to revoke one verified token (its remaining lifetime rounded up)."""
        ttl = remaining_s(verified.claims, self.settings.leeway_s)
        sub = str(verified.claims["sub"])
        if kind is Kind.REFRESH and verified.is_legacy:
            return Revocation(legacy=(token_fingerprint(token), ttl), sub=sub)
        family = verified.claims.get("family") if kind is Kind.REFRESH else None
        return Revocation(
            token=(token_id(verified, token), ttl), family=family if isinstance(family, str) else None, sub=sub
        )

    def _revocation_target(self, token: object) -> Revocation | str:
        """The revocation for one token to blacklist, or its outcome: expired / invalid."""
        try:
            kind, verified = self.codec.verify_any(token)
        except TokenExpired:
            return "expired"
        except InvalidToken:
            return "invalid"
        assert isinstance(token, str)  # verify_any() accepts only non-empty strings
        if remaining_s(verified.claims, self.settings.leeway_s) <= 0:  # Redis rejects EX <= 0
            return "expired"
        return self.revocation_of(kind, verified, token)

    async def blacklist(self, token: object) -> str:
        """Revoke one token; returns blacklisted / expired / invalid."""
        return next(k for k, v in (await self.batch_blacklist_tokens([token])).body().items() if v)

    async def batch_blacklist_tokens(self, tokens: list[object]) -> BlacklistResult:
        """Revoke many tokens: one pipelined round trip per chunk; repeating a call changes nothing.

        Tokens are validated chunk by chunk, each chunk's pipeline sent before the next is validated,
        and validation yields the event loop every ``SLICE_S`` of CPU: a 10,000-token batch (about a
        third of a second of signature checks) must not stall every other request for that long.
        """
        expired = invalid = 0
        chunk = self.settings.blacklist_chunk
        slice_began = perf_counter()
        for start in range(0, len(tokens), chunk):
            revocations: list[Revocation] = []
            for token in tokens[start : start + chunk]:
                if perf_counter() - slice_began > SLICE_S:
                    await asyncio.sleep(0)
                    slice_began = perf_counter()
                target = self._revocation_target(token)
                if isinstance(target, Revocation):
                    revocations.append(target)
                elif target == "expired":
                    expired += 1
                else:
                    invalid += 1
            await self._store_revocations(revocations, op="blacklist_chunk")
        return BlacklistResult(len(tokens) - expired - invalid, expired, invalid)

    async def _store_revocations(self, revocations: list[Revocation], op: str) -> int:
        """Write revocations in one round trip, then remember them locally; returns the families revoked."""
        entries: dict[tuple[str, str], int] = {}
        legacy: dict[tuple[str, str], int] = {}
        owned: set[tuple[str, str]] = set()
        for rev in revocations:
            if rev.token:
                entries[(rev.sub, rev.token[0])] = max(rev.token[1], entries.get((rev.sub, rev.token[0]), 0))
            if rev.legacy:
                legacy[(rev.sub, rev.legacy[0])] = max(rev.legacy[1], legacy.get((rev.sub, rev.legacy[0]), 0))
            if rev.family:
                owned.add((rev.sub, rev.family))
        reached = await self.store.blacklist(
            [TokenEntry(sub, tid, ttl) for (sub, tid), ttl in entries.items()],
            sorted(owned),
            op=op,
            legacy=[TokenEntry(sub, fp, ttl) for (sub, fp), ttl in legacy.items()],
        )
        families = {family for _, family in owned} | reached
        for (_, tid), ttl in [*entries.items(), *legacy.items()]:
            self.local.token(tid, ttl)
        for family in families:
            self.local.family(family, self.settings.refresh_ttl_s)
        self.metrics.revocations.labels("token").inc(len(entries) + len(legacy))
        self.metrics.revocations.labels("family").inc(len(families))
        return len(families)

    async def logout(
        self, access: Verified, access_token: str, refresh_token: object, all_sessions: bool
    ) -> LogoutResult:
        """Revoke this session (and, with ``all_sessions``, every session of the user).

        A logout revokes everything it can prove: the access token and its session always, the refresh
        token when it is a valid one of this user. A refresh token it cannot revoke (expired, invalid, another
        user's) is named in the answer, never a reason to revoke nothing.
        """
        sub = str(access.claims["sub"])
        own = Revocation(
            token=(token_id(access, access_token), max(1, remaining_s(access.claims, self.settings.leeway_s))), sub=sub
        )
        revocations = [own, Revocation(family=_family(access), sub=sub)]
        refused: str | None = None
        if refresh_token is not None:
            target = self._refresh_revocation(refresh_token, sub)
            if isinstance(target, Revocation):
                revocations.append(target)
            else:
                refused = target
        if all_sessions:
            revocations += [Revocation(family=f, sub=sub) for f in await self._revoke_user(sub)]
        revoked = max(await self._store_revocations(revocations, op="logout"), 1)
        return LogoutResult(revoked, refused)

    def _refresh_revocation(self, token: object, sub: str) -> Revocation | str:
        """The revocation of a refresh token presented at logout, or why it is not revoked."""
        try:
            refresh = self.codec.verify(token, Kind.REFRESH)
        except TokenExpired:
            return "expired: nothing to revoke"
        except InvalidToken as exc:
            return f"not revoked: {exc.message}"
        if refresh.claims["sub"] != sub:
            return "not revoked: it belongs to another user"
        assert isinstance(token, str)  # verify() accepts only non-empty strings
        if remaining_s(refresh.claims, self.settings.leeway_s) <= 0:
            return "expired: nothing to revoke"
        return self.revocation_of(Kind.REFRESH, refresh, token)

    async def revoke_user(self, sub: str) -> int:
        """End every session of ``sub`` (an account removed or disabled); returns the families revoked."""
        families = await self._revoke_user(sub)
        return await self._store_revocations([Revocation(family=f, sub=sub) for f in families], op="logout")

    async def _revoke_user(self, sub: str) -> set[str]:
        """Every family of ``sub``: those Redis knows, and fallback ones this process has not registered yet.

        Families issued by other processes during an outage are caught by the logout-all time
        (``userrev``) when they are registered or adopted.
        """
        families = await self.store.revoke_user(sub, int(time.time() * 1000))
        pending = {family for family, owner, _, _ in self.pending.items() if owner == sub}
        for family in pending:
            self.pending.discard(family)
        return families | pending


def _family(verified: Verified) -> str | None:
    family = verified.claims.get("family")
    return family if isinstance(family, str) else None


class PendingFamilies:
    """Families issued during an outage, waiting to be written to Redis (bounded)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._items: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
        self._max = max_entries

    def add(self, family: str, sub: str, token_id: str, issued_at: float) -> None:
        self._items[family] = (sub, token_id, issued_at)
        while len(self._items) > self._max:
            self._items.popitem(last=False)  # the oldest is still adopted on its first refresh

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str, str, float]]:
        """(family, sub, refresh token id, issued at)."""
        return [(f, sub, tid, at) for f, (sub, tid, at) in self._items.items()]

    def discard(self, family: str) -> None:
        self._items.pop(family, None)
