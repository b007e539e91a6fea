"""Errors that map to one HTTP answer each: ``{"error": CODE, "message": TEXT}``."""

from __future__ import annotations

INVALID_TYPE_FOR_REFRESH = "Invalid token type for refresh"


class AuthError(Exception):
    status = 400
    code = "bad_request"
    # The RFC 6750 challenge: None sends no WWW-Authenticate, "" a bare ``Bearer realm``, else its error code.
    challenge: str | None = None

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(AuthError):
    status, code = 400, "bad_request"


class InvalidCredentials(AuthError):
    status, code, challenge = 401, "invalid_credentials", ""


class InvalidToken(AuthError):
    status, code, challenge = 401, "invalid_token", "invalid_token"


class MissingCredentials(InvalidToken):
    """No bearer token at all: RFC 6750 3.1 says the challenge then carries no error code."""

    challenge = ""


class TokenExpired(AuthError):
    status, code, challenge = 401, "token_expired", "invalid_token"


class TokenRevoked(AuthError):
    status, code, challenge = 401, "token_revoked", "invalid_token"


class TokenReused(AuthError):
    status, code, challenge = 401, "token_reused", "invalid_token"


class Forbidden(AuthError):
    status, code, challenge = 403, "forbidden", "insufficient_scope"


class PayloadTooLarge(AuthError):
    status, code = 413, "payload_too_large"


class ServiceUnavailable(AuthError):
    """The session store is unreachable and this path fails closed."""

    status, code = 503, "store_unavailable"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, round(retry_after_s + 0.49)))})


class LoginThrottled(AuthError):
    """Too many failed logins (login_throttle.py). The same answer whether the account exists or not."""

    status, code = 429, "login_throttled"

    def __init__(self, *, retry_after_s: int) -> None:
        wait = max(1, retry_after_s)
        super().__init__(f"Too many failed login attempts; retry in {wait} s", headers={"Retry-After": str(wait)})


class InvalidGrant(AuthError):
    status, code = 400, "invalid_grant"


REALM = "authchaos"


def challenge_header(exc: AuthError) -> str:
    """``WWW-Authenticate`` for an error (RFC 6750 3): clients tell "refresh" from "log in again" by it."""
    if not exc.challenge:
        return f'Bearer realm="{REALM}"'
    description = "".join(c for c in exc.message if " " <= c <= "~" and c not in '"\\')[:200]
    return f'Bearer realm="{REALM}", error="{exc.challenge}", error_description="{description}"'
