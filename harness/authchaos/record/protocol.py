"""The history contract every driver writes, and the service's HTTP surface as the harness sees it.

Imported by the scenario client and by the locustfile (inside Locust's gevent processes), so it
stays light (the standard library; answers are read in canonical words through ``exchange``). One
exchange (request sent, answer or no answer) becomes one history row through ``row``: same exchange,
same row, whichever driver made it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["ok", "fail", "unknown"]

LOGIN, REFRESH, LOGOUT, BLACKLIST, ME = "/auth/login", "/auth/refresh", "/auth/logout", "/auth/blacklist", "/auth/me"
OAUTH_CALLBACK, HEALTH = "/oauth/callback", "/health"
DEGRADED_HEADER = "x-auth-degraded"
# Explicit load shedding: 503 with this error code and a Retry-After. Beyond capacity a service must say
# "busy, retry" rather than degrade (accept tokens unchecked) or fail as if its store were down.
SHED_ERROR = "overloaded"
INVALID_TYPE_FOR_REFRESH = "Invalid token type for refresh"  # the headline regression's symptom
DEFAULT_USER = ("alice", "wonderland")
DEFAULT_ADMIN = ("admin", "admin-secret")

# Operations that change server state: without an answer their effect is unknown, never a pass.
WRITES = frozenset(
    {
        "login",
        "oauth_login",
        "refresh",
        "logout",
        "logout_all",
        "blacklist_batch",
        "replay",
        "legacy_refresh",
        "concurrent_refresh",
    }
)

# Probes: calls that present a token the service must reject (a 200 is a finding for some checker).
PROBES = {
    "revoked": "a token whose revocation (logout, logout-all, blacklist) was acknowledged",
    "replayed": "a refresh token that was already rotated (reuse, unless inside the grace window)",
    "after_reuse": "a token of a family that reuse detection has just revoked",
    "access_at_refresh": "an access token presented as a refresh token",
    "refresh_at_me": "a refresh token presented as an access token",
    "expired": "a well-signed token past its exp",
    "foreign_subject": "a refresh token naming another user's session under this user's subject (service's key)",
    "not_admin": "a batch blacklist sent by a user who is not an admin",
}

# Load shapes: (until second, users, spawn rate) per stage.
CAPACITY_STEP_S = 8.0
CAPACITY_USERS = (10, 25, 50, 100, 150, 200, 300, 450, 600)
LOAD_PROFILES: dict[str, list[tuple[float, int, float]]] = {
    "smoke": [(20, 10, 10)],
    "ramp": [(20, 10, 5), (40, 30, 5), (60, 60, 5)],
    "soak": [(600, 30, 5)],
    "spike": [(10, 10, 10), (20, 80, 80), (35, 10, 80)],
    # A capacity search: steps of users held CAPACITY_STEP_S each; the shape stops after the first step whose
    # p95 or error ratio breaks the bound it is given (AUTHCHAOS_CAPACITY_P95_MS, _MAX_ERROR_RATIO).
    "capacity": [(CAPACITY_STEP_S * (i + 1), users, 200) for i, users in enumerate(CAPACITY_USERS)],
}
CAPACITY_STEPS_FILE = "capacity-steps.jsonl"


def profile_seconds(profile: str) -> float:
    return LOAD_PROFILES[profile][-1][0]


Reader = Callable[[int, Any, Mapping[str, str]], tuple[Any, str | None]]  # (status, body, headers) -> (body, why)
ClaimNames = tuple[str, str, str]  # the service's names for the token id, the family and the type
CANONICAL_CLAIMS: ClaimNames = ("tokenId", "family", "type")


def peek(token: str | None, names: ClaimNames = CANONICAL_CLAIMS) -> dict[str, Any]:
    """A token's claims without verifying it (the client only needs ids for the history), with the
    service's id, family and type claims also under their canonical names (``tokenId``, ``family``, ``type``)."""
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError, RecursionError):
        return {}
    if not isinstance(claims, dict):
        return {}
    if names != CANONICAL_CLAIMS:
        claims |= {canon: claims.get(name) for canon, name in zip(CANONICAL_CLAIMS, names, strict=True)}
    return claims


def outcome(op: str, status: int | None, *, timed_out: bool) -> Outcome:
    """ok for 2xx, fail for any other answer; no answer: unknown for a write that timed out, else fail."""
    if status is None:
        return "unknown" if timed_out and op in WRITES else "fail"
    return "ok" if 200 <= status < 300 else "fail"


@dataclass(frozen=True)
class Reading:
    """How to read one service's answers: its claim names, its degraded header, and its contract's reader
    (``exchange.read_answer``); the default reads the reference service's own words."""

    names: ClaimNames = CANONICAL_CLAIMS
    degraded_header: str | None = DEGRADED_HEADER
    read: Reader | None = None


REFERENCE_READING = Reading()


def row(
    op: str,
    client: int,
    start_ns: int,
    end_ns: int,
    *,
    token: str | None = None,
    status: int | None = None,
    body: Any = None,
    no_answer: str | None = None,
    names: ClaimNames = CANONICAL_CLAIMS,
) -> dict[str, Any]:
    """One history row for one exchange; ``status`` None means no answer came back (``no_answer``: the client
    library's exception name, ``...Timeout`` for a timeout)."""
    claims = peek(token, names)
    timed_out = no_answer is not None and "timeout" in no_answer.lower()
    r: dict[str, Any] = {
        "client": client,
        "op": op,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "outcome": outcome(op, status, timed_out=timed_out),
        "status": status,
        "token_id": claims.get("tokenId"),
        "family": claims.get("family"),
    }
    if status is None:
        r["error"] = "client_timeout" if timed_out else "service_unreachable"
        r["message"] = None if timed_out else no_answer
    elif status >= 400 and isinstance(body, dict):
        r["error"], r["message"] = body.get("error"), body.get("message")
    return r


def row_from_response(
    op: str,
    client: int,
    start_ns: int,
    end_ns: int,
    *,
    token: str | None,
    status: int | None,
    headers: Mapping[str, str] | None,
    text: str | None,
    error: BaseException | None,
    reading: Reading = REFERENCE_READING,
) -> tuple[dict[str, Any], Any]:
    """The row and parsed body for what an HTTP client library handed back: an answer, or an exception.

    Both drivers call this with the four things every client gives (status, headers, text, exception),
    so the same exchange makes the same row whichever driver saw it. ``reading.read`` turns the service's
    answer into canonical words through its contract; an answer it matches to nothing declared is named on
    the row (``undeclared``) for the conformance check.
    """
    if not status:
        name = type(error).__name__ if error is not None else "NoResponse"
        return row(op, client, start_ns, end_ns, token=token, no_answer=name, names=reading.names), None
    body, undeclared = parse_body(text), None
    if reading.read is not None:
        body, undeclared = reading.read(status, body, headers or {})
    r = row(op, client, start_ns, end_ns, token=token, status=status, body=body, names=reading.names)
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    header = reading.degraded_header
    r["degraded"] = header is not None and header.lower() in lower
    r["retry_after"] = lower.get("retry-after")
    if undeclared:
        r["undeclared"] = undeclared
    return r, body


def lifetime(claims: dict[str, Any]) -> int | None:
    exp, iat = claims.get("exp"), claims.get("iat")
    return int(exp - iat) if isinstance(exp, int | float) and isinstance(iat, int | float) else None


def received(
    r: dict[str, Any], token: str | None, access: str | None = None, names: ClaimNames = CANONICAL_CLAIMS
) -> dict[str, Any]:
    """Note the pair an exchange handed out on the row: the refresh token's id and family, both lifetimes."""
    claims = peek(token, names)
    r["new_token_id"], r["new_family"] = claims.get("tokenId"), claims.get("family")
    r["refresh_ttl_s"], r["access_ttl_s"] = lifetime(claims), lifetime(peek(access))
    return r


def parse_body(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
