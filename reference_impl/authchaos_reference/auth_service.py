"""Sessions (port of modules/Auth/auth.service.ts): login, and issuing with a fallback.

Login favours availability: when Redis cannot record a new family, the pair
is still issued (well-formed, marked ``fb``) and its family is queued here,
registered once Redis answers again or adopted on the first refresh.
Password logins pass the brute-force limits of ``login_throttle`` first.
"""

from __future__ import annotations

import logging
import time

from authchaos_reference.errors import InvalidCredentials
from authchaos_reference.jwt_codec import new_id
from authchaos_reference.jwt_service import TokenPair, TokenService
from authchaos_reference.login_throttle import LoginThrottle
from authchaos_reference.redis_ops import StoreUnavailable
from authchaos_reference.users import User, UserStore

log = logging.getLogger("authchaos.auth")


class AuthService:
    def __init__(self, users: UserStore, tokens: TokenService, throttle: LoginThrottle | None = None) -> None:
        self.users = users
        self.tokens = tokens
        self.pending = tokens.pending
        store = tokens.store
        self.throttle = throttle or LoginThrottle(store.ops, tokens.settings, store.keys, tokens.metrics)

    async def login(self, username: str, password: str, address: str = "") -> TokenPair:
        attempt = await self.throttle.check(username, address)  # 429 before any hashing
        user = await self.users.authenticate(username, password)
        if user is None:
            await self.throttle.failed(attempt)  # 429 instead when this guess finished past a budget
            raise InvalidCredentials("Invalid username or password")
        await self.throttle.succeeded(attempt)
        if attempt.redis_down:  # Redis just failed this login: issue without waiting for it a second time
            return self.issue_fallback(user)
        try:
            return await self.issue_primary(user)
        except StoreUnavailable:
            return self.issue_fallback(user)

    async def issue_primary(self, user: User) -> TokenPair:
        """A pair whose family is recorded in Redis; raises StoreUnavailable."""
        family, refresh_id = new_id(), new_id()
        await self.tokens.store.register_family(family, user.id, refresh_id, issued_ms=int(time.time() * 1000))
        self.tokens.metrics.tokens_issued.labels("primary").inc()
        return self.tokens.mint(user.id, family, refresh_id)

    def issue_fallback(self, user: User) -> TokenPair:
        """A well-formed pair (tokenId, family, type) while Redis is down."""
        family, refresh_id = new_id(), new_id()
        self.pending.add(family, user.id, refresh_id, time.time())
        self.tokens.metrics.tokens_issued.labels("fallback").inc()
        return self.tokens.mint(user.id, family, refresh_id, fallback=True)

    async def register_pending(self) -> int:
        """Write queued families to Redis; stops at the first failure. Returns how many were written."""
        written = 0
        oldest = time.time() - self.tokens.settings.refresh_ttl_s
        for family, sub, token_id, issued_at in self.pending.items():
            if issued_at > oldest:
                try:
                    await self.tokens.store.register_family(family, sub, token_id, issued_ms=int(issued_at * 1000))
                except StoreUnavailable:
                    break
                written += 1
            self.pending.discard(family)
        if written:
            log.info("registered %d families issued during the outage", written)
        return written
