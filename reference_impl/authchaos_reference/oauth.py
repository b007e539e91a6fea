"""OAuth login (port of modules/Auth/oauth.controller.ts) with a network-free demo provider.

``/oauth/authorize`` starts a login: it makes a ``state`` and sends the browser to the provider, which
(the demo one at once) redirects back to ``/oauth/callback`` with a code and that state. The callback
refuses a missing, forged, expired or already used state (RFC 6749 4.1.2, RFC 9700 4.7), so a code is
exchanged once. The state is signed, not stored, so an OAuth login still works while Redis is away
(the headline path: fallback tokens); that it was used is recorded in Redis, or in this process while
Redis is away.

The original controller had its own fallback token generator; under the
``legacy_fallback_tokens`` bug switch that generator comes back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from urllib.parse import urlencode

from redis.asyncio import Redis

from authchaos_reference.auth_service import AuthService
from authchaos_reference.bugs import Bug
from authchaos_reference.errors import InvalidCredentials, InvalidGrant
from authchaos_reference.jwt_codec import Kind
from authchaos_reference.jwt_service import TokenPair
from authchaos_reference.local_revocations import LocalRevocations
from authchaos_reference.redis_ops import StoreUnavailable

PROVIDERS = ("demo",)
STATE_TTL_S = 600  # a login must come back from the provider within ten minutes
STATE = re.compile(r"(?P<nonce>[A-Za-z0-9_-]{16,64})\.(?P<exp>[0-9]{1,12})\.(?P<mac>[0-9a-f]{32})")  # ASCII only


def demo_exchange(code: str) -> str:
    """The demo provider's code is ``user:<username>``; a real one would call the provider here."""
    prefix, _, username = code.partition(":")
    if prefix != "user" or not username:
        raise InvalidGrant("Invalid authorization code: the demo provider expects code=user:<username>")
    return username


class OAuthController:
    def __init__(self, auth: AuthService) -> None:
        self.auth = auth
        secret = auth.tokens.settings.jwt_refresh_secret.get_secret_value().encode()
        self._state_key = hashlib.sha256(b"authchaos oauth state\x00" + secret).digest()
        self._used_here = LocalRevocations(max_entries=100_000)

    def _provider(self, provider: str) -> None:
        if provider == "demo" and not self.auth.tokens.settings.oauth_demo_enabled:
            raise InvalidGrant(
                "OAuth provider 'demo' is disabled (AUTHCHAOS_OAUTH_DEMO: off by default with a users file, "
                "never on in production)"
            )
        if provider not in PROVIDERS:
            raise InvalidGrant(f"Unknown OAuth provider {provider!r}: supported: {', '.join(PROVIDERS)}")

    def authorize(self, provider: str, login_hint: str) -> str:
        """Where to send the browser: the provider's consent page; the demo provider consents at once."""
        self._provider(provider)
        if not login_hint:
            raise InvalidGrant("The demo provider needs login_hint=<username>")
        code = f"user:{login_hint}"
        return "/oauth/callback?" + urlencode({"provider": provider, "code": code, "state": self.new_state(code)})

    def new_state(self, code: str, now: float | None = None) -> str:
        """A state for one login, signed over the code the demo provider hands out with it (a real provider's
        code comes later: its state would be bound to the browser by a cookie instead)."""
        nonce = secrets.token_urlsafe(16)
        expires = int((time.time() if now is None else now) + STATE_TTL_S)
        return f"{nonce}.{expires}.{self._mac(nonce, expires, code)}"

    def _mac(self, nonce: str, expires: int, code: str) -> str:
        signed = f"{nonce}.{expires}.{code}".encode("utf-8", "surrogatepass")
        return hmac.new(self._state_key, signed, hashlib.sha256).hexdigest()[:32]

    async def _spend_state(self, state: str | None, code: str) -> None:
        """Accept a state this service made for this code, unexpired, once."""
        if not state:
            raise InvalidGrant("Missing state: start the login at /oauth/authorize")
        parts = STATE.fullmatch(state)
        if parts is None or not hmac.compare_digest(parts["mac"], self._mac(parts["nonce"], int(parts["exp"]), code)):
            raise InvalidGrant("Invalid state: start the login at /oauth/authorize")
        nonce, left = parts["nonce"], int(parts["exp"]) - int(time.time())
        if left <= 0:
            raise InvalidGrant("Expired state: start the login again at /oauth/authorize")
        if self._used_here.is_revoked(nonce, None):
            raise InvalidGrant("This authorization was already used: start the login again")
        self._used_here.token(nonce, left)  # before the await: two callbacks at once cannot both pass here

        async def mark(r: Redis) -> bool:
            return bool(await r.set(f"ac:oauthstate:{nonce}", "1", nx=True, ex=left))

        try:
            first = await self.auth.tokens.store.ops.safe_redis_operation("oauth_state", mark)
        except StoreUnavailable:
            first = True  # Redis away: this process's memory alone remembers it (the login favours availability)
        if not first:
            raise InvalidGrant("This authorization was already used: start the login again")

    async def callback(self, provider: str, code: str, state: str | None = None) -> TokenPair:
        self._provider(provider)
        username = demo_exchange(code)
        await self._spend_state(state, code)
        user = self.auth.users.by_username(username)
        if user is None:
            raise InvalidCredentials("No account is linked to this OAuth identity")
        try:
            return await self.auth.issue_primary(user)
        except StoreUnavailable:
            if Bug.LEGACY_FALLBACK_TOKENS in self.auth.tokens.settings.bugs:
                return self._legacy_fallback(user.id, user.username)
            return self.auth.issue_fallback(user)

    def _legacy_fallback(self, sub: str, username: str) -> TokenPair:
        """The original bug: one generic signer, the access key, no tokenId/family/type."""
        tokens = self.auth.tokens
        s = tokens.settings
        now = int(time.time())
        base = {"sub": sub, "username": username, "iat": now, "iss": s.issuer, "aud": s.audience}
        access = tokens.codec.sign_raw(Kind.ACCESS, {**base, "exp": now + s.access_ttl_s})
        refresh = tokens.codec.sign_raw(Kind.ACCESS, {**base, "exp": now + s.refresh_ttl_s})
        tokens.metrics.tokens_issued.labels("fallback").inc()
        return TokenPair(access, refresh, s.access_ttl_s)
