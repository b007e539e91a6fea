"""OAuth callback (port of modules/Auth/oauth.controller.ts) with a network-free demo provider.

The original controller had its own fallback token generator; under the
``legacy_fallback_tokens`` bug switch that generator comes back.
"""

from __future__ import annotations

import time

from authchaos_reference.auth_service import AuthService
from authchaos_reference.bugs import Bug
from authchaos_reference.errors import InvalidCredentials, InvalidGrant
from authchaos_reference.jwt_codec import Kind
from authchaos_reference.jwt_service import TokenPair
from authchaos_reference.redis_ops import StoreUnavailable

PROVIDERS = ("demo",)


def demo_exchange(code: str) -> str:
    """The demo provider's code is ``user:<username>``; a real one would call the provider here."""
    prefix, _, username = code.partition(":")
    if prefix != "user" or not username:
        raise InvalidGrant("Invalid authorization code: the demo provider expects code=user:<username>")
    return username


class OAuthController:
    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def callback(self, provider: str, code: str) -> TokenPair:
        if provider == "demo" and not self.auth.tokens.settings.oauth_demo_enabled:
            raise InvalidGrant("OAuth provider 'demo' is disabled (AUTHCHAOS_OAUTH_DEMO; never on in production)")
        if provider not in PROVIDERS:
            raise InvalidGrant(f"Unknown OAuth provider {provider!r}: supported: {', '.join(PROVIDERS)}")
        user = self.auth.users.by_username(demo_exchange(code))
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
