"""What a simulated client can do: each operation registers itself with ``@operation``.

A scenario's ``workload.mix`` names these; the scenario model validates against
``OPERATIONS``. Adding an operation is one decorated function here plus its test.
Every call goes through ``AuthClient.call`` so it lands in the history as one row.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from authchaos.record import protocol
from authchaos.record.history import Op
from authchaos.record.token_keys import Kind, mint, sign
from authchaos.workload.client import AuthClient

OperationFn = Callable[[AuthClient], Awaitable[None]]
LEGACY_REFRESH_TTL_S = 604_800  # the pre-fix service's refresh lifetime
CONCURRENT_REFRESHES = 3
LATE_REPLAY_AFTER_S = 3.0  # past the longest grace window a gate scenario gives (2 s)
LEGACY_BEFORE_LOGOUT_ALL_S = 2  # whole seconds before a logout-all (iat has second resolution)
EXPIRED_BY_S = 600  # far past any sane leeway
LEGACY_REPLAY_RATIO = 0.3
BATCH_VICTIMS_KEPT = 3


@dataclass(frozen=True)
class Operation:
    name: str
    fn: OperationFn
    needs_session: bool  # without a session the client logs in instead
    uses: tuple[str, ...]  # the contract operations it calls: absent ones make it skipped, by name


OPERATIONS: dict[str, Operation] = {}


def operation(*, uses: tuple[str, ...], needs_session: bool = True) -> Callable[[OperationFn], OperationFn]:
    def register(fn: OperationFn) -> OperationFn:
        OPERATIONS[fn.__name__] = Operation(fn.__name__, fn, needs_session, uses)
        return fn

    return register


def missing_for(name: str, declared: list[str]) -> list[str]:
    """The contract operations ``name`` needs that the service's contract does not declare."""
    return [u for u in OPERATIONS[name].uses if u not in declared]


@operation(uses=("login",), needs_session=False)
async def login(c: AuthClient) -> None:
    op, body = await c.send("login", "login", username=c.user[0], password=c.user[1])
    c.take_pair(op, body)
    op.user = c.user[0]


@operation(uses=("oauth_callback",), needs_session=False)
async def oauth_login(c: AuthClient) -> None:
    op, body = await c.send("oauth_login", "oauth_callback", username=c.user[0])
    c.take_pair(op, body)
    op.user = c.user[0]


@operation(uses=("login", "refresh"))
async def refresh(c: AuthClient) -> None:
    token = c.refresh_token
    op, body = await c.send("refresh", "refresh", token=token, refresh=token)
    c.take_pair(op, body, rotated=token)
    if op.status == 401:
        c.forget_session()


@operation(uses=("login", "me"))
async def me(c: AuthClient) -> None:
    op, _ = await c.send("me", "me", token=c.access, access=c.access)
    if op.status == 401:
        c.forget_session()


@operation(uses=("login", "refresh", "me"))
async def replay(c: AuthClient) -> None:
    """Present an already rotated refresh token of this session, as a thief would: the immediate predecessor
    (inside a grace window: the same successor) or an older one (always reuse). After a rejection keep
    presenting the family (the successor refresh token and its access token): all must now be rejected."""
    if not c.rotated:
        await refresh(c)
        return
    token = c.rng.choice(c.rotated)
    op, body = await c.send("replay", "refresh", token=token, refresh=token)
    op.probe = "replayed"
    c.rotated.remove(token)
    c.note_pair(op, body)
    if op.status == 200 or op.status is None:
        return  # a grace-window sibling (the service may allow it), or no answer: nothing learned
    if op.error == "token_reused":
        await c.present("refresh", "refresh", c.refresh_token, probe="after_reuse")
        await c.present("me", "access", c.access, probe="after_reuse")
    c.forget_session()  # the family is revoked: log in again


@operation(uses=("login", "refresh"))
async def late_replay(c: AuthClient) -> None:
    """Rotate, set the new pair aside unused, and present the old refresh token again once any grace window is
    over: the immediate predecessor, presented late, is reuse. (A grace window that never closes, or is read in
    the wrong unit, passes every replay made inside it.)"""
    if c.late is not None and time.monotonic() - c.late[1] >= LATE_REPLAY_AFTER_S:
        held, _ = c.late
        c.late = None
        op, body = await c.send("replay", "refresh", token=held, refresh=held)
        op.probe = "replayed"
        c.note_pair(op, body)
        return
    if c.late is not None:
        await refresh(c)
        return
    token = c.refresh_token
    op, body = await c.send("refresh", "refresh", token=token, refresh=token)
    c.note_pair(op, body)  # handed out, never used: the predecessor stays the immediate one
    if op.status == 200 and token:
        c.late = (token, time.monotonic())
    c.forget_session()


@operation(uses=("login", "refresh"))
async def concurrent_refresh(c: AuthClient) -> None:
    """Refresh one token from several connections at once (two tabs, a retrying proxy): exactly one new
    pair outside the grace window, and the rest is reuse."""
    token = c.refresh_token

    async def one() -> tuple[Op, Any]:
        return await c.send("concurrent_refresh", "refresh", token=token, refresh=token)

    results = await asyncio.gather(*(one() for _ in range(CONCURRENT_REFRESHES)))
    winners = [(op, body) for op, body in results if op.status == 200]
    for op, body in winners:
        c.take_pair(op, body, rotated=token)
    if not winners and any(op.status == 401 for op, _ in results):
        c.forget_session()


async def _log_out(c: AuthClient, name: str, *, with_refresh: bool) -> tuple[Op, str | None, str | None]:
    """Log out (``logout`` or ``logout_all``) with this session; on a 200 the client keeps its tokens only to
    present them again."""
    access, refresh_token = c.access, c.refresh_token
    sent = refresh_token if with_refresh else None
    op, _ = await c.send(name, name, token=access, access=access, refresh=sent)
    if op.status in (200, 401):
        c.forget_session()
    if op.status == 200:
        c.remember_revoked("access", access)
        c.remember_revoked("refresh", refresh_token)
    return op, access, refresh_token


@operation(uses=("login", "logout", "me"))
async def logout(c: AuthClient) -> None:
    """Log out this session; half the time with the access token alone (the session must end all the same)."""
    op, access, refresh_token = await _log_out(c, "logout", with_refresh=c.rng.random() < 0.5)
    if op.status == 200:
        claims = protocol.peek(access, c.claims)
        op.revoked_ids = [claims["tokenId"]] if claims.get("tokenId") else []
        families = (claims.get("family"), protocol.peek(refresh_token, c.claims).get("family"))
        op.revoked_families = sorted({f for f in families if f})
        await c.present("me", "access", access, probe="revoked")


@operation(uses=("login", "logout_all", "refresh"))
async def logout_all(c: AuthClient) -> None:
    """Log out every session of the user (all clients share it): each must stop working at once, and so must a
    pre-fix refresh token issued before it (no family to revoke: only the user's cut-off time stops it)."""
    stale = _legacy_refresh_token(c, issued_ago_s=LEGACY_BEFORE_LOGOUT_ALL_S) if c.keys is not None else None
    op, _, refresh_token = await _log_out(c, "logout_all", with_refresh=False)
    op.revoked_user = c.user[0]  # the target, whatever the answer: a lost answer may still have revoked them all
    if op.status == 200:
        await c.present("refresh", "refresh", refresh_token, probe="revoked")
        if stale is not None:
            await c.present("refresh", "refresh", stale, probe="revoked")


@operation(uses=("login", "me", "refresh"), needs_session=False)
async def recheck_revoked(c: AuthClient) -> None:
    """Present a token revoked earlier (access at /auth/me, refresh at /auth/refresh): revocations must
    survive restarts, outages and other workers."""
    if not c.revoked:
        await run_operation(c, "me")
        return
    # half the time the oldest: a revocation that lapses too early (a TTL cut short) shows on old ones
    kind, token = c.revoked[0] if c.rng.random() < 0.5 else c.rng.choice(c.revoked)
    await c.present("recheck_revoked", kind, token, probe="revoked")


@operation(uses=("login", "me", "refresh"))
async def cross_kind(c: AuthClient) -> None:
    """An access token at /auth/refresh and a refresh token at /auth/me, in the current shape and in the kid-less,
    typeless legacy shape (the OAuth bug's token): kinds never stand in for each other, whatever the shape."""
    await c.present("cross_kind", "refresh", c.access, probe="access_at_refresh")
    await c.present("cross_kind", "access", c.refresh_token, probe="refresh_at_me")
    if c.keys is not None:
        legacy = {
            "sub": c.user[0],
            "userId": c.user[0],
            "iat": int(time.time()),
            "exp": int(time.time()) + 600,
            "iss": c.keys.issuer,
            "aud": c.keys.audience,
        }
        await c.present("cross_kind", "refresh", sign(legacy, c.keys.access_secret), probe="access_at_refresh")
        await c.present("cross_kind", "access", sign(legacy, c.keys.refresh_secret), probe="refresh_at_me")


@operation(uses=("me", "refresh"), needs_session=False)
async def expired_token(c: AuthClient) -> None:
    """Well-signed current-shape tokens past their exp (beyond any leeway): rejected, in degraded mode too."""
    if c.keys is None:
        await run_operation(c, "me")
        return
    past = time.time() - EXPIRED_BY_S
    claims = {"sub": c.user[0], "tokenId": f"ex-{c.cid}-{c.rng.getrandbits(48):x}", "family": f"exf-{c.cid}"}
    kind: Kind = "access" if c.rng.random() < 0.5 else "refresh"
    token = mint(c.keys, kind, claims, ttl_s=60, now=past, names=c.claims)
    await c.present("expired_token", kind, token, probe="expired")


def _fingerprint(token: str) -> str:
    return "lg-" + hashlib.sha256(token.encode()).hexdigest()[:16]


def _legacy_refresh_token(c: AuthClient, *, issued_ago_s: int = 0) -> str:
    """A refresh token of the pre-fix fallback shape: no tokenId, family or type, no kid."""
    assert c.keys is not None
    now = int(time.time()) - issued_ago_s
    # half with minutes left, half with most of a week: a replay marker that lives too short shows. Issued just
    # now, so that a logout-all earlier in the run (which revokes every older token of the user) does not apply.
    left = c.rng.randrange(60, 900) if c.rng.random() < 0.5 else LEGACY_REFRESH_TTL_S - c.rng.randrange(3600)
    payload = {
        "sub": c.user[0],
        "userId": c.user[0],
        "email": f"{c.user[0]}@example.com",
        "iat": now,
        "exp": now + left,
        "iss": c.keys.issuer,
        "aud": c.keys.audience,
    }
    return sign(payload, c.keys.refresh_secret)


@operation(uses=("refresh",), needs_session=False)
async def legacy_refresh(c: AuthClient) -> None:
    """Exchange a refresh token of the pre-fix fallback shape (no tokenId/family/type): accepted once. Now and
    then present one exchanged earlier again: a reuse that must be rejected and revoke the family it became.
    Legacy tokens carry no id, so the history names them by a fingerprint of the token (``lg-``)."""
    if c.keys is None:
        await run_operation(c, "refresh")
        return
    if c.legacy and c.rng.random() < LEGACY_REPLAY_RATIO:
        token, family = c.legacy.pop(c.rng.randrange(len(c.legacy)))
        op, body = await c.send("legacy_refresh", "refresh", refresh=token)
        op.token_id, op.family, op.probe = _fingerprint(token), family, "replayed"
        c.note_pair(op, body)
        return
    token = _legacy_refresh_token(c)
    op, body = await c.send("legacy_refresh", "refresh", refresh=token)
    c.take_pair(op, body)
    op.token_id, op.user = _fingerprint(token), c.user[0]
    if op.status == 200:
        c.legacy = [*c.legacy[-4:], (token, op.new_family)]


def _spread(tokens: list[str]) -> list[str]:
    """The first, the middle and the last token of a batch: a write cut short anywhere (one chunk, one
    pipeline, the first n) leaves one of them accepted; the last is presented at once."""
    picks = sorted({0, len(tokens) // 2, len(tokens) - 1})[:BATCH_VICTIMS_KEPT]
    return [tokens[i] for i in picks]


async def _admin(c: AuthClient) -> bool:
    """The admin session batch blacklists need; logs in (one op) when there is none."""
    if c.admin_access is not None:
        return True
    op, body = await c.send("login", "login", username=c.admin[0], password=c.admin[1])
    if op.status == 200 and isinstance(body, dict):
        c.admin_access = body.get("access_token")
    return False


@operation(uses=("login", "blacklist", "me"))
async def blacklist_batch(c: AuthClient) -> None:
    """As admin: revoke a batch of freshly minted access tokens, then check one is rejected."""
    if c.keys is None:
        await run_operation(c, "me")
        return
    if not await _admin(c):
        return
    keys, size = c.keys, c.rng.choice(c.batch_sizes)
    fresh = ({"sub": c.user[0], "tokenId": f"bl-{c.cid}-{c.rng.getrandbits(64):x}"} for _ in range(size))
    tokens = [mint(keys, "access", claims, ttl_s=600, names=c.claims) for claims in fresh]
    op, _ = await c.send("blacklist_batch", "blacklist", token=c.admin_access, access=c.admin_access, tokens=tokens)
    if op.status == 200:
        op.revoked_ids = [protocol.peek(t, c.claims)["tokenId"] for t in tokens]
        victims = _spread(tokens)
        for victim in victims:  # presented again later: a blacklist entry must outlive the seconds after it
            c.remember_revoked("access", victim)
        await c.present("me", "access", victims[-1], probe="revoked")
    elif op.status == 401:
        c.admin_access = None


@operation(uses=("login", "blacklist", "me"))
async def blacklist_session(c: AuthClient) -> None:
    """As admin, blacklist this client's own refresh token: its whole family goes, so its access token,
    issued in the same grant, must be rejected too (RFC 7009)."""
    if not await _admin(c):
        return
    access, refresh_token = c.access, c.refresh_token
    op, _ = await c.send(
        "blacklist_session", "blacklist", token=c.admin_access, access=c.admin_access, tokens=[refresh_token]
    )
    if op.status == 200:
        claims = protocol.peek(refresh_token, c.claims)
        op.revoked_ids = [claims["tokenId"]] if claims.get("tokenId") else []
        op.revoked_families = [claims["family"]] if claims.get("family") else []
        c.forget_session()
        c.remember_revoked("refresh", refresh_token)
        c.remember_revoked("access", access)
        await c.present("me", "access", access, probe="revoked")
    elif op.status in (401, 403):
        c.admin_access = None


@operation(uses=("login", "blacklist", "refresh"))
async def blacklist_legacy(c: AuthClient) -> None:
    """As admin, blacklist a refresh token of the pre-fix shape (no ids to name it by), then try to exchange it."""
    if c.keys is None or not await _admin(c):
        return
    token = _legacy_refresh_token(c)
    op, _ = await c.send("blacklist_legacy", "blacklist", token=c.admin_access, access=c.admin_access, tokens=[token])
    if op.status == 200:
        await c.present("legacy_refresh", "refresh", token, probe="revoked")
    elif op.status in (401, 403):
        c.admin_access = None


async def run_operation(client: AuthClient, name: str) -> None:
    """One registered operation by name; one that needs a session logs in instead while there is none."""
    operation = OPERATIONS[name]
    if operation.needs_session and client.access is None:
        await OPERATIONS["login"].fn(client)
        return
    await operation.fn(client)
