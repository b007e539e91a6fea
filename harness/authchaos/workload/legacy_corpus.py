"""Legacy token corpus: every token shape the service has ever issued, with what must happen to it.

Generated deterministically from the configured keys (fixed timestamps, fixed ids), stored as JSONL:
one entry per line, ``{"id", "shape", "endpoint", "token", "expect": [outcome, ...]}`` where each
outcome (``{"status", "error"?, "message"?}``) is what the n-th presentation of the token must get.
``replay_corpus`` presents each token in order against a running service and compares.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from authchaos.record.exchange import build_request, read_answer
from authchaos.record.protocol import CANONICAL_CLAIMS, INVALID_TYPE_FOR_REFRESH, ClaimNames, parse_body
from authchaos.record.service_contract import ServiceContract, load_contract
from authchaos.record.token_keys import TokenKeys, mint, sign, spelled

IAT = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so the corpus is the same for the same keys
EXP = 4_102_444_800  # 2100-01-01: far enough that the corpus does not rot
OK = {"status": 200}
REUSED = {"status": 401, "error": "token_reused"}


class CorpusError(Exception):
    """A corpus file is malformed; the message names the file and the line."""


@dataclass
class Entry:
    id: str
    shape: str
    endpoint: str  # refresh | me
    token: str
    expect: list[dict[str, Any]]
    note: str = ""


@dataclass
class CorpusResult:
    """What the service answered to each presentation of one corpus token."""

    entry: Entry
    got: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return len(self.got) == len(self.entry.expect) and all(
            all(got.get(k) == v for k, v in want.items()) for want, got in zip(self.entry.expect, self.got, strict=True)
        )


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def build_corpus(keys: TokenKeys, names: ClaimNames = CANONICAL_CLAIMS) -> list[Entry]:
    """Every shape, signed with ``keys`` (fixed times and ids: the same keys give the same corpus), its id,
    family and type claims spelled as the service's contract says (``names``)."""
    refresh_kid = keys.refresh_kid
    base = {"sub": "alice", "iat": IAT, "exp": EXP, "iss": keys.issuer, "aud": keys.audience}
    original = {**base, "userId": "alice", "email": "alice@example.com"}

    def refresh(payload: dict[str, Any], kid: str | None = None) -> str:
        return sign(spelled(payload, names), keys.refresh_secret, kid=kid)

    def current(extra: dict[str, Any]) -> str:
        return refresh({**base, "type": "refresh", **extra}, refresh_kid)

    entries = [
        Entry(
            "legacy-1",
            "original-fallback",
            "refresh",
            refresh(original),
            [OK, REUSED],
            "pre-fix fallback: no tokenId, family or type; accepted once, upgraded into a new family",
        ),
        Entry(
            "legacy-2",
            "bug-fallback-access-key",
            "refresh",
            sign(original, keys.access_secret),
            [{"status": 401, "error": "invalid_token", "message": INVALID_TYPE_FOR_REFRESH}],
            "the OAuth bug's refresh token, signed with the access key: never a refresh token",
        ),
        Entry(
            "legacy-3",
            "type-without-family",
            "refresh",
            current({}),
            [OK, REUSED],
            "type claim but no tokenId/family: treated as legacy, accepted once",
        ),
        Entry(
            "current-1",
            "current-unknown-session",
            "refresh",
            current({"tokenId": "corpus-t1", "family": "corpus-f1"}),
            [{"status": 401, "error": "token_revoked"}],
            "current shape, session never recorded: log in again",
        ),
        Entry(
            "current-2",
            "current-fallback",
            "refresh",
            current({"tokenId": "corpus-t2", "family": "corpus-f2", "fb": True}),
            [OK, REUSED],
            "issued during an outage: adopted on first refresh, then rotated",
        ),
        Entry(
            "access-1",
            "current-access",
            "me",
            sign(
                spelled({**base, "type": "access", "tokenId": "corpus-a1", "family": "corpus-fa"}, names),
                keys.access_secret,
                kid=keys.access_kid,
            ),
            [OK, OK],
            "current access token",
        ),
        Entry(
            "access-2",
            "legacy-access",
            "me",
            sign(original, keys.access_secret),
            [{"status": 401, "error": "token_expired"}],
            "access token without type or kid: lives one access lifetime from its iat, whatever its exp",
        ),
        Entry(
            "bad-1",
            "expired-legacy",
            "refresh",
            refresh({**original, "iat": IAT - 86400, "exp": IAT}),
            [{"status": 401, "error": "token_expired"}],
            "expired",
        ),
        Entry(
            "bad-2",
            "alg-none",
            "refresh",
            f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(original)}.",
            [{"status": 401, "error": "invalid_token"}],
            "unsigned",
        ),
    ]
    if keys.retired_refresh:
        secret, kid = keys.retired_refresh[0]
        entries.append(
            Entry(
                "retired-1",
                "retired-kid",
                "refresh",
                sign(original, secret, kid=kid),
                [OK, REUSED],
                "signed with a retired key that is still in the keyring",
            )
        )
    dropped = TokenKeys(
        keys.access_secret,
        "x" * 48 + "dropped",
        keys.access_kid,
        "r-dropped-key",
        issuer=keys.issuer,
        audience=keys.audience,
    )
    entries.append(
        Entry(
            "retired-2",
            "dropped-kid",
            "refresh",
            mint(dropped, "refresh", {"sub": "alice", "tokenId": "d", "family": "d"}, ttl_s=3600, now=IAT, names=names),
            [{"status": 401, "error": "invalid_token"}],
            "signed with a key no longer in the keyring",
        )
    )
    return entries


def write_corpus(entries: list[Entry], path: Path) -> None:
    with path.open("w") as f:
        for e in entries:
            f.write(
                json.dumps(
                    {
                        "id": e.id,
                        "shape": e.shape,
                        "endpoint": e.endpoint,
                        "token": e.token,
                        "expect": e.expect,
                        "note": e.note,
                    }
                )
                + "\n"
            )


def read_corpus(path: Path) -> list[Entry]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read: {exc.strerror}") from None
    entries = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        entries.append(_entry(raw, f"{path}:{n}"))
    if not entries:
        raise CorpusError(f"{path}: no entries (one JSON object per line)")
    return entries


def _entry(raw: object, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: each line must be a JSON object")
    for key, kind in (("token", str), ("endpoint", str), ("expect", list)):
        if not isinstance(raw.get(key), kind):
            raise CorpusError(f"{where}: '{key}' must be a {kind.__name__}")
    if raw["endpoint"] not in ("refresh", "me"):
        raise CorpusError(f"{where}: 'endpoint' must be 'refresh' or 'me', not {raw['endpoint']!r}")
    expect = raw["expect"] or [{}]
    if not all(isinstance(x, dict) and isinstance(x.get("status"), int) for x in expect):
        raise CorpusError(f"{where}: 'expect' must be a list of objects with an integer 'status'")
    return Entry(
        str(raw.get("id", where)),
        str(raw.get("shape", "")),
        raw["endpoint"],
        raw["token"],
        expect,
        str(raw.get("note", "")),
    )


def present(http: httpx.Client, entry: Entry, contract: ServiceContract) -> Iterator[dict[str, Any]]:
    """Present the token once per expected outcome where its contract puts it; yield what came back (status,
    and the canonical error and the service's message)."""
    operation = "refresh" if entry.endpoint == "refresh" else "me"
    spec = contract.operation(operation)
    if spec is None:
        return
    args = {"refresh": entry.token} if operation == "refresh" else {"access": entry.token}
    req = build_request(spec, args, username=contract.users.user.username)
    for _ in entry.expect:
        r = http.request(req.method, req.path, **req.options())
        body = read_answer(contract, spec, r.status_code, parse_body(r.text), r.headers).body
        got: dict[str, Any] = {"status": r.status_code}
        if isinstance(body, dict) and body.get("error") is not None:
            got |= {"error": body["error"], "message": body.get("message")}
        yield got


def replay_corpus(
    entries: list[Entry], target: str, timeout_s: float = 10.0, *, contract: ServiceContract | None = None
) -> list[CorpusResult]:
    """Each entry presented to ``target``, the reference service's contract unless another is given."""
    contract = contract or load_contract()
    outcomes = []
    with httpx.Client(base_url=target, timeout=timeout_s) as http:
        for entry in entries:
            outcomes.append(CorpusResult(entry, list(present(http, entry, contract))))
    return outcomes
