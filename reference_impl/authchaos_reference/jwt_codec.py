"""Signing and validating tokens: HS256, one keyring per token kind, strict checks.

Kinds are kept apart by separate keys, the ``type`` claim and the ``typ``
header (RFC 8725 section 3.12): a token that verifies with the access key is
never a refresh token, whatever its claims say.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from authchaos_reference.config import Settings
from authchaos_reference.errors import INVALID_TYPE_FOR_REFRESH, InvalidToken, TokenExpired

ALGORITHM = "HS256"


class _PreparedHMAC(HMACAlgorithm):
    """HS256 whose key checks run once per key, not once per token.

    Why: PyJWT re-validates an HMAC secret on every sign and verify (PEM, SSH and DER probes, and a JSON
    parse that raises each time), about a tenth of a refresh's CPU. The keys here are the service's own,
    few and fixed, so the first answer stands. Registered through PyJWT's own algorithm API.
    """

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._prepared: dict[str | bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)  # raises for unusable keys, which are then never cached
            if len(self._prepared) < 64:
                self._prepared[key] = prepared
        return prepared


jwt.unregister_algorithm(ALGORITHM)
jwt.register_algorithm(ALGORITHM, _PreparedHMAC())
_SEGMENT = re.compile(rb"([A-Za-z0-9_-]*)(={0,2})")


class _SegmentCheckedJWS(jwt.PyJWS):
    """PyJWS whose segment check runs as one regular expression instead of a Python loop over every character.

    Why: PyJWT checks each character of each segment against the base64url alphabet in a generator, about a
    tenth of a refresh's CPU. The rules are PyJWT's own (at most two ``=``, only where they pad, no length
    1 mod 4, nothing outside the alphabet, the decoded bytes encode back to the same text).
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise jwt.DecodeError(f"Invalid {name} padding")
        data, padding = match.groups()
        if (padding and len(segment) % 4) or len(data) % 4 == 1:
            raise jwt.DecodeError(f"Invalid {name} padding")
        decoded = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
        if _b64(decoded) != data:  # PyJWT's round trip: no slack bits, one spelling (``_check_canonical`` agrees)
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


def _jws() -> jwt.PyJWS:
    jws = _SegmentCheckedJWS()
    jws.unregister_algorithm(ALGORITHM)
    jws.register_algorithm(ALGORITHM, _PreparedHMAC())
    return jws


_JWS = _jws()  # signature-only checks (``_verifies_as``), with the same prepared keys
_JWT = jwt.PyJWT()  # the full decode, on the same fast segment check
_JWT._jws = _jws()
REQUIRED = ["exp", "iat", "sub", "iss", "aud"]
# Times past 9999-12-31 are refused even with a valid signature: the legacy signer "put any exp it liked", and an
# exp of 10**400 (or now + 10**16, past what Redis takes as an expiry) must be an invalid token, never a 500.
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
MAX_TIME = 253_402_300_799
ID_CLAIMS = ("tokenId", "family")


class Kind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


TYP_HEADER = {Kind.ACCESS: "at+jwt", Kind.REFRESH: "rt+jwt"}


def new_id() -> str:
    """An unguessable identifier for tokenId and family (128 bits)."""
    return secrets.token_urlsafe(16)


def kid_for(kind: Kind, secret: str) -> str:
    """A key id derived from the key, so rotation needs no extra setting."""
    return f"{kind.value[0]}-{hashlib.sha256(secret.encode()).hexdigest()[:12]}"


def token_fingerprint(token: str) -> str:
    """A stable id for tokens that carry no tokenId (legacy shapes).

    Only canonical tokens get this far (``canonical_segments``), so one token has one fingerprint.
    """
    return "h-" + hashlib.sha256(token.encode()).hexdigest()[:32]


_B64URL = re.compile(r"[A-Za-z0-9_-]*")
MAX_HEADER_BYTES = 1024
FORBIDDEN_HEADERS = ("crit", "b64", "jku", "x5u", "jwk", "x5c")


# The last character of a canonical base64url segment carries no slack bits: with 2 or 3 characters in the
# final quantum only these may end it.
_CANONICAL_LAST = {0: None, 2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def _check_canonical(segment: str, *, may_be_empty: bool = False) -> None:
    """Refuse every non-canonical base64url spelling (padding, slack bits, other alphabets), without decoding.

    Why: PyJWT's decoder is lenient, so ``token + "="`` verifies like ``token``; a revocation keyed by
    the token string would then miss its twin. One token, one spelling.
    """
    if not segment and may_be_empty:
        return
    if not segment or not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidToken("Malformed token")
    last = _CANONICAL_LAST[len(segment) % 4]
    if last is not None and segment[-1] not in last:
        raise InvalidToken("Malformed token: non-canonical base64url")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key in token header")
    return dict(pairs)


_HEADERS: dict[str, dict[str, Any]] = {}  # header segment -> parsed header; few distinct ones exist
_HEADERS_MAX = 256


def _parse_header(token: str) -> dict[str, Any]:
    """The JOSE header, read once and cheaply (PyJWT's own reader parses all three segments).

    Only used to pick the key; the signature check in ``jwt.decode`` still covers it. Every
    segment must be canonical base64url; the header must be a small, flat-enough JSON object
    (a deeply nested one is a RecursionError in ``json``, which must never reach the route).
    Headers that passed are remembered: a service sees a handful of distinct ones, so the hot
    path skips a base64 decode and a JSON parse (the cache is cleared when it fills).
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidToken("Malformed token")
    head = segments[0]
    _check_canonical(head)
    _check_canonical(segments[1])
    _check_canonical(segments[2], may_be_empty=True)
    header = _HEADERS.get(head)
    if header is None:
        header = _read_header(head)
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        _HEADERS[head] = header
    return header


def _read_header(head: str) -> dict[str, Any]:
    if len(head) > MAX_HEADER_BYTES * 4 // 3 + 4:
        raise InvalidToken("Malformed token: header too large")
    raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    if len(raw) > MAX_HEADER_BYTES:
        raise InvalidToken("Malformed token: header too large")
    try:
        header = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, TypeError, RecursionError):
        raise InvalidToken("Malformed token") from None
    if not isinstance(header, dict):
        raise InvalidToken("Malformed token")
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise InvalidToken("Unsupported token header")
    return header


@dataclass(frozen=True)
class KeyRing:
    kind: Kind
    current_kid: str
    keys: dict[str, bytes] = field(repr=False)

    @classmethod
    def build(cls, kind: Kind, current: str, retired: list[str]) -> KeyRing:
        keys = {kid_for(kind, s): s.encode() for s in [current, *retired]}
        return cls(kind, kid_for(kind, current), keys)

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_kid]


@dataclass(frozen=True)
class Verified:
    claims: dict[str, Any]
    kid: str | None

    @property
    def is_legacy(self) -> bool:
        """Pre-fix shape: no type, or no tokenId/family to rotate with."""
        c = self.claims
        return not c.get("type") or not c.get("tokenId") or not c.get("family")


class TokenCodec:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rings = {
            Kind.ACCESS: KeyRing.build(
                Kind.ACCESS,
                settings.jwt_access_secret.get_secret_value(),
                [s.get_secret_value() for s in settings.jwt_access_retired_secrets],
            ),
            Kind.REFRESH: KeyRing.build(
                Kind.REFRESH,
                settings.jwt_refresh_secret.get_secret_value(),
                [s.get_secret_value() for s in settings.jwt_refresh_retired_secrets],
            ),
        }

        # The JOSE header of each kind's current key, encoded once: it is the same for every token it signs.
        self._headers = {
            kind: _b64(
                json.dumps(
                    {"alg": ALGORITHM, "kid": ring.current_kid, "typ": TYP_HEADER[kind]},
                    separators=(",", ":"),
                    sort_keys=True,
                ).encode()
            )
            for kind, ring in self.rings.items()
        }

    def encode(self, kind: Kind, claims: dict[str, Any], *, ttl_s: int, now: float | None = None) -> str:
        """Sign ``claims`` plus iat/exp/iss/aud/type with the current key of ``kind``."""
        issued = int(now if now is not None else time.time())
        body = {
            **claims,
            "type": kind.value,
            "iat": issued,
            "exp": issued + ttl_s,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
        }
        ring = self.rings[kind]
        return _sign_hs256(self._headers[kind], body, ring.current_key)

    def sign_raw(self, kind: Kind, payload: dict[str, Any], *, kid: str | None = None) -> str:
        """Sign exactly ``payload`` (legacy shapes, test corpora); no claims are added."""
        ring = self.rings[kind]
        key = ring.keys[kid] if kid else ring.current_key
        headers = {"kid": kid} if kid else None
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers=headers)

    def verify(self, token: object, kind: Kind) -> Verified:
        """Validate ``token`` as ``kind`` or raise InvalidToken / TokenExpired."""
        header = self._header(token)
        assert isinstance(token, str)
        return self._verify(token, header, kind)

    def _verify(self, token: str, header: dict[str, Any], kind: Kind) -> Verified:
        kid = header.get("kid")
        typ = str(header.get("typ", "JWT")).lower()
        other = Kind.REFRESH if kind is Kind.ACCESS else Kind.ACCESS
        if typ == TYP_HEADER[other] or (kid is not None and kid in self.rings[other].keys):
            raise self._wrong_kind(kind)
        ring = self.rings[kind]
        if kid is None:
            candidates = list(ring.keys.values())  # legacy tokens were signed without a kid
        elif kid in ring.keys:
            candidates = [ring.keys[kid]]
        else:
            raise InvalidToken("Unknown signing key")
        for key in candidates:
            try:
                claims = self._decode(token, key)
            except jwt.InvalidSignatureError:
                continue
            return self._check_type(Verified(claims, kid), kind)
        if kind is Kind.REFRESH and self._verifies_as(token, Kind.ACCESS):
            raise InvalidToken(INVALID_TYPE_FOR_REFRESH)
        raise InvalidToken("Invalid token signature")

    def verify_any(self, token: object) -> tuple[Kind, Verified]:
        """Validate a token of either kind (for revocation), telling which kind it is."""
        header = self._header(token)
        assert isinstance(token, str)
        kid, typ = header.get("kid"), str(header.get("typ", "")).lower()
        for kind in Kind:
            if kid in self.rings[kind].keys or typ == TYP_HEADER[kind]:
                return kind, self._verify(token, header, kind)
        try:
            return Kind.ACCESS, self._verify(token, header, Kind.ACCESS)
        except InvalidToken:
            return Kind.REFRESH, self._verify(token, header, Kind.REFRESH)

    def _header(self, token: object) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise InvalidToken("Missing token")
        if len(token) > self.settings.max_token_bytes:
            raise InvalidToken(f"Token larger than {self.settings.max_token_bytes} bytes")
        header = _parse_header(token)
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("Unsupported token algorithm")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("Malformed token header")
        return header

    def _decode(self, token: str, key: bytes) -> dict[str, Any]:
        try:
            return _JWT.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.settings.issuer,
                audience=self.settings.audience,
                leeway=self.settings.leeway_s,
                options={"require": REQUIRED, "strict_aud": True},
            )
        except jwt.InvalidSignatureError:
            raise
        except jwt.ExpiredSignatureError:
            raise TokenExpired("Token expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"Invalid token: {exc}") from None
        except (ValueError, TypeError, OverflowError, RecursionError):  # only reachable with a valid signature
            raise InvalidToken("Invalid token: malformed claims") from None

    def _verifies_as(self, token: str, kind: Kind) -> bool:
        """Signature check only: which key made this token, whatever its claims."""
        for key in self.rings[kind].keys.values():
            try:
                _JWS.decode(token, key, algorithms=[ALGORITHM])
            except (jwt.InvalidTokenError, ValueError, RecursionError):
                continue
            return True
        return False

    def _check_type(self, verified: Verified, kind: Kind) -> Verified:
        claims = verified.claims
        claimed = claims.get("type")
        if claimed is not None and claimed != kind.value:
            raise self._wrong_kind(kind)
        if not isinstance(claims.get("sub"), str):
            raise InvalidToken("Invalid token: sub must be a string")
        if not all(_is_int(claims.get(name)) for name in ("exp", "iat")):
            raise InvalidToken("Invalid token: exp and iat must be integers")
        for name in TIME_CLAIMS:
            if name in claims and not (_is_int(claims[name]) and 0 <= claims[name] <= MAX_TIME):
                raise InvalidToken(f"Invalid token: {name} must be a whole number of seconds before the year 10000")
        for name in ID_CLAIMS:
            if name in claims and not isinstance(claims[name], str):
                raise InvalidToken(f"Invalid token: {name} must be a string")
        if kind is Kind.ACCESS and claimed is None:
            self._cap_typeless_access(claims)
        return verified

    def _cap_typeless_access(self, claims: dict[str, Any]) -> None:
        """A legacy (typeless) access token lives at most one access lifetime from its iat, whatever its exp.

        Why: the pre-fix signer put any exp it liked; without a cap a leaked legacy token is forever.
        """
        limit = int(claims["iat"]) + self.settings.access_ttl_s + self.settings.leeway_s
        if time.time() > limit:
            raise TokenExpired("Token expired (legacy access tokens live one access lifetime)")
        claims["exp"] = min(int(claims["exp"]), limit)

    @staticmethod
    def _wrong_kind(kind: Kind) -> InvalidToken:
        if kind is Kind.REFRESH:
            return InvalidToken(INVALID_TYPE_FOR_REFRESH)
        return InvalidToken("Invalid token type: an access token is required")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _sign_hs256(header_segment: bytes, payload: dict[str, Any], key: bytes) -> str:
    """The compact HS256 JWS of ``payload``, byte for byte what ``jwt.encode`` makes (a test compares them).

    Why not ``jwt.encode``: it rebuilds and re-serialises the same header and re-checks the key on every call,
    about a third of a refresh's signing; the header here is the key's, encoded once.
    """
    signing_input = header_segment + b"." + _b64(json.dumps(payload, separators=(",", ":")).encode())
    return (signing_input + b"." + _b64(hmac.new(key, signing_input, hashlib.sha256).digest())).decode()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
