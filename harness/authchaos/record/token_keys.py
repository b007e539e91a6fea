"""Tokens the harness must make itself (legacy shapes, corpora, batch-blacklist victims), with PyJWT.

The harness treats the service as a black box: it knows only the keys, their key ids, the
issuer and the audience it was configured with (``TokenKeys``), never the service's code.
Imported by the locustfile too, so it needs nothing but PyJWT.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt

from authchaos.record.protocol import CANONICAL_CLAIMS, ClaimNames

Kind = Literal["access", "refresh"]
TYP = {"access": "at+jwt", "refresh": "rt+jwt"}
ENV = {
    "access": "AUTHCHAOS_JWT_ACCESS_SECRET",
    "refresh": "AUTHCHAOS_JWT_REFRESH_SECRET",
    "retired": "AUTHCHAOS_JWT_REFRESH_RETIRED_SECRETS",
    "access_kid": "AUTHCHAOS_JWT_ACCESS_KID",
    "refresh_kid": "AUTHCHAOS_JWT_REFRESH_KID",
    "retired_kids": "AUTHCHAOS_JWT_REFRESH_RETIRED_KIDS",
    "issuer": "AUTHCHAOS_ISSUER",
    "audience": "AUTHCHAOS_AUDIENCE",
}
SECRET_ENV = (ENV["access"], ENV["refresh"], ENV["retired"])


@dataclass(frozen=True)
class TokenKeys:
    """The service's signing keys as configuration: secrets, key ids (None: sign without ``kid``), claims."""

    access_secret: str = field(repr=False)
    refresh_secret: str = field(repr=False)
    access_kid: str | None = None
    refresh_kid: str | None = None
    retired_refresh: tuple[tuple[str, str | None], ...] = field(default=(), repr=False)  # (secret, kid)
    issuer: str = "authchaos"
    audience: str = "authchaos-api"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TokenKeys | None:
        """Keys from ``AUTHCHAOS_JWT_*``; None when the secrets are not configured."""
        access, refresh = env.get(ENV["access"]), env.get(ENV["refresh"])
        if not access or not refresh:
            return None
        retired = [s for s in env.get(ENV["retired"], "").split(",") if s]
        kids = [k or None for k in env.get(ENV["retired_kids"], "").split(",")] if env.get(ENV["retired_kids"]) else []
        return cls(
            access,
            refresh,
            env.get(ENV["access_kid"]) or None,
            env.get(ENV["refresh_kid"]) or None,
            tuple((s, kids[i] if i < len(kids) else None) for i, s in enumerate(retired)),
            env.get(ENV["issuer"], "authchaos"),
            env.get(ENV["audience"], "authchaos-api"),
        )

    def secret(self, kind: Kind) -> str:
        return self.access_secret if kind == "access" else self.refresh_secret

    def kid(self, kind: Kind) -> str | None:
        return self.access_kid if kind == "access" else self.refresh_kid


def new_secrets() -> dict[str, str]:
    """Random keys for one run (the caller's environment wins when it sets them)."""
    return {k: os.environ.get(k) or secrets.token_urlsafe(48) for k in SECRET_ENV}


def sign(payload: dict[str, Any], secret: str, *, kid: str | None = None, typ: str | None = None) -> str:
    """Sign exactly ``payload`` (HS256); the header carries ``kid``/``typ`` only when given."""
    headers = {k: v for k, v in (("kid", kid), ("typ", typ)) if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def spelled(claims: dict[str, Any], names: ClaimNames = CANONICAL_CLAIMS) -> dict[str, Any]:
    """Claims written with the canonical names (``tokenId``, ``family``, ``type``) as the service spells them
    (a contract's ``claims:``, e.g. ``jti``, ``sid``, ``typ``); the inverse of ``protocol.peek``."""
    if names == CANONICAL_CLAIMS:
        return claims
    rename = dict(zip(CANONICAL_CLAIMS, names, strict=True))
    return {rename.get(k, k): v for k, v in claims.items()}


def mint(
    keys: TokenKeys,
    kind: Kind,
    claims: dict[str, Any],
    *,
    ttl_s: int,
    now: float | None = None,
    names: ClaimNames = CANONICAL_CLAIMS,
) -> str:
    """A current-shape token, as the service issues it: its claims plus type/iat/exp/iss/aud, kid and typ, the
    id, family and type claims spelled as ``names`` says."""
    issued = int(now if now is not None else time.time())
    body = {**claims, "type": kind, "iat": issued, "exp": issued + ttl_s, "iss": keys.issuer, "aud": keys.audience}
    return sign(spelled(body, names), keys.secret(kind), kid=keys.kid(kind), typ=TYP[kind])
