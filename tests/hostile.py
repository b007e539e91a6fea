"""Hypothesis strategies for hostile tokens and bodies, built structurally.

A token is three segments; each is built from parts an attacker controls: the JSON (nesting,
duplicate keys, wrong ``alg``, unicode ``kid``, huge or non-integer ``exp``/``iat``), its base64url
spelling (padding, the standard alphabet, whitespace, oversize) and the signature (none, random,
or a real one from the service's own key over a tampered header or payload). The properties every
fuzz test checks are in ``check_answer``: never a 5xx, and never an accepted forgery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

import httpx
from hypothesis import strategies as st

from authchaos_reference.config import Settings
from authchaos_reference.jwt_codec import Kind, TokenCodec

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _offsets_from_now(offset: int) -> int:
    return int(time.time()) + offset


# Numbers for every claim: huge (10**400 has a valid signature when the legacy signer "put any exp it liked"),
# past what Redis takes as an expiry (now + 10**16), negative, fractional, infinite and NaN (JSON has them).
numbers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([10**400, -(10**400), 10**16, 2**63, 253_402_300_800]),
    st.integers(min_value=10**12, max_value=10**17).map(_offsets_from_now),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """A JOSE header: mostly plausible, sometimes nested, duplicated or not an object at all."""
    kind = draw(st.sampled_from(["object", "nested", "duplicate", "other"]))
    if kind == "nested":
        depth = draw(st.integers(1, 20_000))
        return draw(st.sampled_from([b"[", b'{"a":'])) * depth
    if kind == "other":
        return json.dumps(draw(json_values)).encode()
    header: dict[str, Any] = {"alg": draw(st.sampled_from(["HS256", "none", "HS512", "RS256", "hs256", "", 256]))}
    if draw(st.booleans()):
        header["typ"] = draw(st.sampled_from(["at+jwt", "rt+jwt", "JWT", "AT+JWT", 1, None]))
    if draw(st.booleans()):
        header["kid"] = draw(st.one_of(st.text(max_size=30), st.integers(), st.just("a-" + "0" * 12)))
    for name in draw(st.lists(st.sampled_from(["crit", "b64", "jku", "x5u", "jwk"]), max_size=2)):
        header[name] = draw(json_values)
    text = json.dumps(header)
    if kind == "duplicate":
        text = text[:-1] + ', "alg": "none"}'
    return text.encode()


@st.composite
def claims(draw: st.DrawFn) -> bytes:
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": draw(st.one_of(st.just("alice"), st.text(max_size=10), st.integers())),
        "iat": draw(st.one_of(st.just(now), numbers)),
        "exp": draw(st.one_of(st.just(now + 600), numbers)),
        "iss": "authchaos",
        "aud": draw(st.sampled_from(["authchaos-api", ["authchaos-api"], "other"])),
    }
    for name in ("nbf", "auth_time"):
        if draw(st.booleans()):
            body[name] = draw(st.one_of(st.just(now - 10), numbers))
    if draw(st.booleans()):
        body["type"] = draw(st.sampled_from(["access", "refresh", "ACCESS", "", None, 1]))
    if draw(st.booleans()):
        ids = st.one_of(st.text(max_size=8), numbers)
        body["tokenId"], body["family"] = draw(ids), draw(ids)
    if draw(st.booleans()):
        body["fb"] = draw(st.one_of(st.booleans(), numbers))
    return json.dumps(body).encode()


@st.composite
def spelled(draw: st.DrawFn, raw: bytes) -> str:
    """One segment's base64url, spelled canonically or not."""
    seg = b64(raw)
    how = draw(st.sampled_from(["canonical", "canonical", "padded", "standard", "space", "junk"]))
    if how == "padded":
        return seg + "=" * draw(st.integers(1, 3))
    if how == "standard":
        return base64.b64encode(raw).decode()
    if how == "space":
        return seg[:1] + " " + seg[1:]
    if how == "junk":
        return seg + draw(st.text(alphabet="!$%&*+/=~.\u00e9\U0001f600", min_size=1, max_size=3))
    return seg


EXTREMES = st.one_of(
    st.sampled_from([10**400, -(10**400), 2**63, 253_402_300_800, 1e308, float("inf"), float("nan"), 0.5]),
    st.integers(min_value=10, max_value=400).map(lambda digits: 10**digits),
)


@st.composite
def service_signed(draw: st.DrawFn, codec: TokenCodec) -> str:
    """A token the service's own key signed over hostile numbers (what the legacy signer could make): every
    claim a plausible value, an extreme one or anything ``numbers`` draws, with or without ``type`` and ``kid``."""
    now = int(time.time())
    kind = draw(st.sampled_from(list(Kind)))
    body: dict[str, Any] = {"sub": "alice", "iss": "authchaos", "aud": "authchaos-api"}
    plausible = {"iat": now, "exp": now + 600, "nbf": now - 10, "auth_time": now - 10}
    for name, value in plausible.items():
        odds = ["plausible"] * (3 if name == "iat" else 1) + ["extreme", "extreme", "number", "absent"]
        how = draw(st.sampled_from(odds))
        if how == "plausible" or (how == "absent" and name in ("iat", "exp")):
            body[name] = value
        elif how == "extreme":
            body[name] = draw(EXTREMES)
        elif how == "number":
            body[name] = draw(numbers)
    if draw(st.booleans()):
        body["type"] = kind.value
    if draw(st.booleans()):
        ids = st.one_of(st.just("fz-" + kind.value), EXTREMES, numbers)
        body["tokenId"], body["family"] = draw(ids), draw(ids)
    if draw(st.booleans()):
        body["fb"] = draw(st.one_of(st.booleans(), EXTREMES))
    kid = draw(st.sampled_from([None, codec.rings[kind].current_kid]))
    return codec.sign_raw(kind, body, kid=kid)


@st.composite
def hostile_tokens(draw: st.DrawFn, codec: TokenCodec) -> tuple[str, bool]:
    """(token, forged): ``forged`` means no key of the service signed exactly these bytes."""
    if draw(st.integers(0, 9)) == 0:  # a real token, re-spelled: must still be accepted only as itself
        real = codec.encode(Kind.ACCESS, {"sub": "alice", "tokenId": "fz", "family": "fz"}, ttl_s=600)
        head, payload, sig = real.split(".")
        respelled = draw(spelled(base64.urlsafe_b64decode(sig + "=")))
        return f"{head}.{payload}.{respelled}", respelled != sig
    if draw(st.integers(0, 3)) == 0:
        return draw(service_signed(codec)), False
    head_raw, body_raw = draw(headers()), draw(claims())
    head, body = draw(spelled(head_raw)), draw(spelled(body_raw))
    signer = draw(st.sampled_from(["none", "random", "access", "refresh"]))
    if signer == "none":
        sig = ""
    elif signer == "random":
        sig = b64(draw(st.binary(min_size=1, max_size=64)))
    else:
        kind = Kind.ACCESS if signer == "access" else Kind.REFRESH
        key = codec.rings[kind].current_key
        sig = b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    token = f"{head}.{body}.{sig}"
    if draw(st.integers(0, 20)) == 0:
        token = token + "." + "A" * draw(st.integers(1, 20_000))  # oversize or extra segment
    return token, signer in ("none", "random")


def hostile_bodies() -> st.SearchStrategy[bytes]:
    """Bodies the JSON parser and the models must survive: nesting, huge numbers, wrong types, bad UTF-8."""
    return st.one_of(
        st.binary(max_size=200),
        st.builds(lambda v: json.dumps(v).encode(), json_values),
        st.integers(1, 50_000).map(lambda n: b"[" * n),
        st.integers(1, 5_000).map(lambda n: b'{"tokens": ' + b"[" * n),
        st.just(b'{"refresh_token": "a", "refresh_token": 1}'),
        st.just(b'{"username": "alice", "password": "' + b"\xff\xfe" + b'"}'),
        st.just(b'{"tokens": [' + b'"x",' * 20_000 + b'"x"]}'),
        st.just(b'{"all": 1e999}'),
    )


HTTP_MAX_HEADER_BYTES = 16 * 1024  # AUTHCHAOS_HTTP_MAX_HEADER_BYTES: `authchaos serve` refuses a larger head (431)


def _refused_by_the_http_server(r: httpx.Response) -> bool:
    """The HTTP server's answer to a header block over its limit (authchaos_reference.http_limits), not the app's.

    It is a 431 with the service's own JSON error body; uvicorn's plain-text 400 is no longer accepted for it.
    """
    size = sum(len(k) + len(v) + 4 for k, v in r.request.headers.raw)
    if r.status_code != 431 or size <= HTTP_MAX_HEADER_BYTES:
        return False
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and set(body) == {"error", "message"} and body["error"] == "header_too_large"


def check_answer(r: httpx.Response, *, forged: bool, where: str) -> None:
    """The fuzz properties: a clean error body for every failure, never a 5xx, never an accepted forgery."""
    assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400 and not _refused_by_the_http_server(r):
        try:
            body = r.json()
        except ValueError:
            raise AssertionError(f"{where}: {r.status_code} without a JSON error body: {r.text[:300]!r}") from None
        assert set(body) == {"error", "message"}, f"{where}: {body}"
    if forged:
        assert r.status_code != 200 or where.endswith("/auth/blacklist"), f"{where}: forgery accepted: {r.text[:300]}"


def codec_for(settings: Settings) -> TokenCodec:
    return TokenCodec(settings)


def fuzz_examples(ci_default: int) -> int:
    """CI runs a bounded number of examples; ``make fuzz`` sets AUTHCHAOS_FUZZ_EXAMPLES for the long profile."""
    return int(os.environ.get("AUTHCHAOS_FUZZ_EXAMPLES", ci_default))


def present_everywhere(client: Any, token: str, forged: bool, admin: str) -> int:
    """Present one token to every route that reads one; returns how many requests were made."""
    auth = {"Authorization": f"Bearer {token}".encode()}  # raw bytes: a client can send anything
    answers = [
        ("GET /auth/me", client.get("/auth/me", headers=auth)),
        ("POST /auth/refresh", client.post("/auth/refresh", json={"refresh_token": token})),
        ("POST /auth/logout", client.post("/auth/logout", json={"refresh_token": token}, headers=auth)),
    ]
    blacklist = client.post("/auth/blacklist", json={"tokens": [token]}, headers={"Authorization": f"Bearer {admin}"})
    for where, r in answers:
        check_answer(r, forged=forged, where=where)
    check_answer(blacklist, forged=False, where="POST /auth/blacklist")
    if forged:
        assert blacklist.json()["invalid"] == 1, f"a forgery was blacklisted as a real token: {blacklist.text}"
    return 4


def post_everywhere(client: Any, body: bytes, admin: str) -> int:
    """Send one hostile body to every route that takes one."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {admin}"}
    for path in ("/auth/login", "/auth/refresh", "/auth/logout", "/auth/blacklist"):
        check_answer(client.post(path, content=body, headers=headers), forged=False, where=f"POST {path}")
    return 4
