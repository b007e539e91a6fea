"""Token codec: round trips, tamper resistance, and no access/refresh confusion."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authchaos_reference.config import load_settings
from authchaos_reference.errors import INVALID_TYPE_FOR_REFRESH, InvalidToken, TokenExpired
from authchaos_reference.jwt_codec import Kind, TokenCodec, kid_for

SETTINGS = load_settings(
    redis_url="memory://",
    jwt_access_secret="a" * 40,
    jwt_refresh_secret="r" * 40,
    jwt_access_retired_secrets="old-access-secret-0123456789abcdef",
    jwt_refresh_retired_secrets="old-refresh-secret-0123456789abcdef",
)
CODEC = TokenCodec(SETTINGS)

ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=40)
claims_st = st.fixed_dictionaries({"sub": ids, "tokenId": ids, "family": ids})
kinds = st.sampled_from(list(Kind))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@given(claims=claims_st, kind=kinds)
def test_round_trip_keeps_every_claim(claims: dict[str, str], kind: Kind) -> None:
    token = CODEC.encode(kind, claims, ttl_s=60)
    got = CODEC.verify(token, kind).claims
    assert {k: got[k] for k in claims} == claims
    assert got["type"] == kind.value
    assert got["iss"] == SETTINGS.issuer and got["aud"] == SETTINGS.audience


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(claims=claims_st, kind=kinds, data=st.data())
def test_any_mutation_of_a_signed_token_is_rejected(claims: dict[str, str], kind: Kind, data: st.DataObject) -> None:
    token = CODEC.encode(kind, claims, ttl_s=60)
    pos = data.draw(st.integers(0, len(token) - 1), label="position")
    replacement = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."))
    mutated = token[:pos] + replacement + token[pos + 1 :]
    if mutated == token:
        return
    try:
        got = CODEC.verify(mutated, kind).claims
    except (InvalidToken, TokenExpired):
        return
    # base64url has slack bits in the last character of a segment: a mutation there decodes to the same bytes.
    assert got == CODEC.verify(token, kind).claims


@settings(max_examples=150)
@given(
    claims=st.dictionaries(
        st.sampled_from(["sub", "tokenId", "family", "type", "fb", "username"]),
        st.one_of(ids, st.booleans(), st.sampled_from(["refresh", "access", ""])),
    ),
    with_kid=st.booleans(),
)
def test_a_token_signed_with_the_access_key_is_never_a_refresh_token(claims: dict, with_kid: bool) -> None:
    now = int(time.time())
    payload = {"sub": "alice", **claims, "iat": now, "exp": now + 600, "iss": SETTINGS.issuer, "aud": SETTINGS.audience}
    kid = CODEC.rings[Kind.ACCESS].current_kid if with_kid else None
    token = CODEC.sign_raw(Kind.ACCESS, payload, kid=kid)
    with pytest.raises(InvalidToken) as err:
        CODEC.verify(token, Kind.REFRESH)
    assert err.value.message == INVALID_TYPE_FOR_REFRESH


def test_refresh_token_is_not_an_access_token() -> None:
    token = CODEC.encode(Kind.REFRESH, {"sub": "alice", "tokenId": "t", "family": "f"}, ttl_s=60)
    with pytest.raises(InvalidToken):
        CODEC.verify(token, Kind.ACCESS)


def test_retired_key_still_verifies_and_unknown_kid_does_not() -> None:
    now = int(time.time())
    payload = {"sub": "a", "iat": now, "exp": now + 60, "iss": SETTINGS.issuer, "aud": SETTINGS.audience}
    old_kid = kid_for(Kind.REFRESH, "old-refresh-secret-0123456789abcdef")
    assert CODEC.verify(CODEC.sign_raw(Kind.REFRESH, payload, kid=old_kid), Kind.REFRESH).kid == old_kid
    forged = jwt.encode(payload, "r" * 40, algorithm="HS256", headers={"kid": "r-000000000000"})
    with pytest.raises(InvalidToken, match="Unknown signing key"):
        CODEC.verify(forged, Kind.REFRESH)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "Missing token"),
        (None, "Missing token"),
        ("not-a-jwt", "Malformed token"),
        ("a.b.c", "Malformed token"),
        ("x" * 9000, "larger than"),
    ],
)
def test_malformed_input_is_a_clear_invalid_token(token: object, message: str) -> None:
    with pytest.raises(InvalidToken, match=message):
        CODEC.verify(token, Kind.ACCESS)


def test_alg_none_and_other_algorithms_are_refused() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"sub": "admin", "exp": int(time.time()) + 60}).encode())
    with pytest.raises(InvalidToken, match="algorithm"):
        CODEC.verify(f"{header}.{body}.", Kind.ACCESS)
    hs512 = jwt.encode({"sub": "a"}, "a" * 64, algorithm="HS512")
    with pytest.raises(InvalidToken, match="algorithm"):
        CODEC.verify(hs512, Kind.ACCESS)


def test_expired_wrong_issuer_audience_and_missing_claims() -> None:
    past = time.time() - 3600
    assert_raises = pytest.raises
    with assert_raises(TokenExpired):
        CODEC.verify(CODEC.encode(Kind.ACCESS, {"sub": "a"}, ttl_s=60, now=past), Kind.ACCESS)
    now = int(time.time())
    base = {"sub": "a", "iat": now, "exp": now + 60, "iss": SETTINGS.issuer, "aud": SETTINGS.audience}
    for broken in ({**base, "iss": "evil"}, {**base, "aud": "other"}, {k: v for k, v in base.items() if k != "aud"}):
        with assert_raises(InvalidToken):
            CODEC.verify(CODEC.sign_raw(Kind.ACCESS, broken), Kind.ACCESS)


def test_unknown_crit_header_is_rejected() -> None:
    now = int(time.time())
    payload = {"sub": "a", "iat": now, "exp": now + 60, "iss": SETTINGS.issuer, "aud": SETTINGS.audience}
    token = jwt.encode(payload, "a" * 40, algorithm="HS256", headers={"crit": ["exp-ext"], "exp-ext": 1})
    with pytest.raises(InvalidToken):
        CODEC.verify(token, Kind.ACCESS)


def test_the_fast_signer_makes_what_pyjwt_makes() -> None:
    """``TokenCodec.encode`` signs without ``jwt.encode``: the same bytes, for both kinds and odd claims."""
    from authchaos_reference.jwt_codec import ALGORITHM, TYP_HEADER, TokenCodec

    codec = TokenCodec(load_settings(redis_url="memory://signer"))
    now = int(time.time())
    for kind in Kind:
        claims = {"sub": 'ålice "q"', "tokenId": "t", "family": "f", "auth_time": now, "fb": True}
        ring = codec.rings[kind]
        body = {**claims, "type": kind.value, "iat": now, "exp": now + 60}
        body |= {"iss": codec.settings.issuer, "aud": codec.settings.audience}
        want = jwt.encode(
            body, ring.current_key, algorithm=ALGORITHM, headers={"kid": ring.current_kid, "typ": TYP_HEADER[kind]}
        )
        assert codec.encode(kind, claims, ttl_s=60, now=now) == want
        assert codec.verify(want, kind).claims["sub"] == claims["sub"]


@settings(max_examples=500, deadline=None, derandomize=True)
@given(segment=st.text(alphabet="AQgwBCxyz019_-=+/ é", max_size=12).map(str.encode))
def test_the_fast_segment_check_agrees_with_pyjwt(segment: bytes) -> None:
    """The regex segment check refuses and decodes exactly what PyJWT's own check does."""
    from authchaos_reference.jwt_codec import _SegmentCheckedJWS

    def outcome(check: Any) -> bytes | str:
        try:
            return bytes(check(segment, "payload"))
        except jwt.DecodeError:
            return "refused"

    assert outcome(_SegmentCheckedJWS._decode_base64url_segment) == outcome(jwt.PyJWS._decode_base64url_segment)
