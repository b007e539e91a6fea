"""Errors that map to one HTTP answer each: ``{"error": CODE, "message": TEXT}``."""

from __future__ import annotations

INVALID_TYPE_FOR_REFRESH = "Invalid token type for refresh"


class AuthError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(AuthError):
    status, code = 400, "bad_request"


class InvalidCredentials(AuthError):
    status, code = 401, "invalid_credentials"


class InvalidToken(AuthError):
    status, code = 401, "invalid_token"


class TokenExpired(AuthError):
    status, code = 401, "token_expired"


class TokenRevoked(AuthError):
    status, code = 401, "token_revoked"


class TokenReused(AuthError):
    status, code = 401, "token_reused"


class Forbidden(AuthError):
    status, code = 403, "forbidden"


class PayloadTooLarge(AuthError):
    status, code = 413, "payload_too_large"


class ServiceUnavailable(AuthError):
    """The session store is unreachable and this path fails closed."""

    status, code = 503, "store_unavailable"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, round(retry_after_s + 0.49)))})


class InvalidGrant(AuthError):
    status, code = 400, "invalid_grant"
