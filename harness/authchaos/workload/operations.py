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
from authchaos.workload.account_directory import Account
from authchaos.workload.client import AuthClient, LaterGuess, Outliving, Retirement

OperationFn = Callable[[AuthClient], Awaitable[None]]
LEGACY_REFRESH_TTL_S = 604_800  # the pre-fix service's refresh lifetime
CONCURRENT_REFRESHES = 3
HELD_FOR_S = 4.0  # a held session is presented this long after its login: past a scenario's outage and restart
HELD_KEPT = 10
HELD_EVERY_S = 0.5  # at most one new held session per client this often: held logins spread over the whole run
LAST_MOMENT_S = 0.3  # a boundary presentation comes this long before its token's end of life (exp + leeway)
REST_S = 3.0  # a rotated session left idle this long (rotate_and_rest)
IDLE_MARGIN_S = 0.6  # an idle refresh comes this long before the refresh token's exp
RENEW_BEFORE_S = 0.8  # a client refreshes first when its access token has less than this left (short lifetimes)
JUST_PAST_S = 0.25  # a late replay comes this long after the grace window closes: a window a little too long shows
LEGACY_BEFORE_LOGOUT_ALL_S = 2  # whole seconds before a logout-all (iat has second resolution)
EXPIRED_BY_S = 600  # far past any sane leeway
LEGACY_REPLAY_RATIO = 0.3
BATCH_VICTIMS_KEPT = 3
BATCH_TOKEN_TTL_S = 600
# cross_user's moves; the forged refresh needs the service's key, and a client without it makes the other three
CROSS_USER_MOVES = ("foreign_subject", "logout", "logout_all", "not_admin")
FAMILY_HELD = 2  # access tokens revoked only through their family, kept by a client to present again
OUTLIVE_WITHIN_S = 20.0  # an absolute session lifetime longer than this is out of a run's reach
OUTLIVE_EVERY_S = 1.0  # an outliving session rotates this often (well inside any idle lifetime a scenario sets)
OUTLIVE_LAST_S = 2.2  # its last sure rotation comes this long before its end (auth_time has whole seconds: 1 s)
PAST_END_S = 0.5  # the outlived pair is presented this long after the session's end + leeway
GUESS_WITHIN_S = 10.0  # a throttle window longer than this is out of a run's reach: guesses stop at the budget
GUESS_AGAIN_S = (1.0, 2.0, 3.0, 4.0)  # more wrong guesses this long after the budget was spent, while surely inside
GUESS_INSIDE_S = 1.5  # surely inside: this long before the window ends (the check judges only guesses 1 s clear)
PAST_WINDOW_S = 0.5  # and one this long after the window ended (counted from the first failure's answer)
GUESSES_KEPT = 12  # guesses a client holds to send later
RELOADED_AFTER_S = 0.5  # a directory change is presented this long after two reload intervals (every process has it)


@dataclass(frozen=True)
class Operation:
    name: str
    fn: OperationFn
    needs_session: bool  # without a session the client logs in instead
    uses: tuple[str, ...]  # the contract operations it calls: absent ones make it skipped, by name
    directory: bool = False  # it changes the service's users file: skipped, by name, where the harness has none
    settings: tuple[str, ...] = ()  # AUTHCHAOS_* settings its timing aims at: skipped where the service gets none


OPERATIONS: dict[str, Operation] = {}


def operation(
    *, uses: tuple[str, ...], needs_session: bool = True, directory: bool = False, settings: tuple[str, ...] = ()
) -> Callable[[OperationFn], OperationFn]:
    def register(fn: OperationFn) -> OperationFn:
        OPERATIONS[fn.__name__] = Operation(fn.__name__, fn, needs_session, uses, directory, settings)
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


def _probe(op: Op, name: str, refused: tuple[int, ...] = (401, 403)) -> Op:
    """Mark a row as a probe: ``ok`` when the service refused it as it must, ``unknown`` with no answer."""
    op.probe = name
    op.outcome = "unknown" if op.status is None else ("ok" if op.status in refused else "fail")
    return op


async def _replay(c: AuthClient, token: str) -> Op:
    """Present a rotated refresh token again, as a thief would (probe ``replayed``), noting any pair it gets."""
    op, body = await c.send("replay", "refresh", token=token, refresh=token)
    op.probe = "replayed"
    c.note_pair(op, body)
    return op


@operation(uses=("login", "refresh", "me"))
async def replay(c: AuthClient) -> None:
    """Present an already rotated refresh token of this session, as a thief would: the immediate predecessor
    (inside a grace window: the same successor) or an older one (always reuse). After a rejection keep
    presenting the family (the successor refresh token and its access token): all must now be rejected."""
    if not c.rotated:
        await refresh(c)
        return
    token = c.rng.choice(c.rotated)
    c.rotated.remove(token)
    op = await _replay(c, token)
    if op.status == 200 or op.status is None:
        return  # a grace-window sibling (the service may allow it), or no answer: nothing learned
    if op.error == "token_reused":
        await c.present("refresh", "refresh", c.refresh_token, probe="after_reuse")
        await c.present("me", "access", c.access, probe="after_reuse")
    c.forget_session()  # the family is revoked: log in again


@operation(uses=("login", "refresh"))
async def late_replay(c: AuthClient) -> None:
    """Rotate, set the new pair aside unused, and present the old refresh token again just past the service's
    grace window (``JUST_PAST_S`` after it; ``run_operation`` sends it the moment it is due, whatever the mix
    picks): the immediate predecessor, presented late, is reuse. A grace window that never closes, is read in
    the wrong unit or is a second too long passes every replay made inside it, and fails this one."""
    if late_replay_due(c):
        assert c.late is not None
        held, _ = c.late
        c.late = None
        await _replay(c, held)
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


@operation(uses=("login", "refresh"), needs_session=False)
async def held_session(c: AuthClient) -> None:
    """Log in and set the session aside untouched; refresh it HELD_FOR_S later, on whatever process serves then.
    A login answered while Redis was failing is a fallback session only its issuing process knows until it
    registers it: killed before Redis came back, that process never does, and the session must still refresh
    on the next one (the "Invalid token type for refresh" class, across a restart). No answer: presented again."""
    if c.held and time.monotonic() - c.held[0][1] >= HELD_FOR_S:
        token = c.held[0][0]
        op, body = await c.send("held_refresh", "refresh", token=token, refresh=token)
        if op.status is not None and op.status != 503:  # answered (a 503 or no answer did not rotate it)
            c.held.pop(0)
            c.note_pair(op, body)  # its successor is not used again: the session was the witness
        return
    if len(c.held) >= HELD_KEPT or (c.held and time.monotonic() - c.held[-1][1] < HELD_EVERY_S):
        await login(c)  # a plain login instead: logins go on during an outage (a 503 would make the client wait)
        return
    op, body = await c.send("login", "login", username=c.user[0], password=c.user[1])
    op.user = c.user[0]
    c.note_pair(op, body)
    if op.status == 200 and isinstance(body, dict) and body.get("refresh_token"):
        c.held.append((str(body["refresh_token"]), time.monotonic()))


@operation(uses=("login", "logout_all", "refresh", "me"), needs_session=False)
async def outage_logout_all(c: AuthClient) -> None:
    """Set sessions aside as ``held_session`` does; once the oldest is HELD_FOR_S old, log out every session of the
    user and present what a logout-all cannot name: each session set aside (one opened during an outage is a
    fallback session no process may have registered, adopted only now), a typeless legacy access token and a
    legacy refresh token issued before it. Only the user's revoked-before time ends them, on adoption too."""
    if not c.held or time.monotonic() - c.held[0][1] < HELD_FOR_S:
        await held_session(c)
        return
    if c.access is None:
        await login(c)
        if c.access is None:
            return
    stale = [("refresh", _legacy_refresh_token(c, issued_ago_s=LEGACY_BEFORE_LOGOUT_ALL_S))] if c.keys else []
    stale += [("access", _legacy_access_token(c, issued_ago_s=LEGACY_BEFORE_LOGOUT_ALL_S))] if c.keys else []
    op, _, refresh_token = await _log_out(c, "logout_all", with_refresh=False)
    op.revoked_user = c.user[0]
    if op.status != 200:
        return  # the held sessions wait for the next logout-all that is acknowledged
    held, c.held = c.held, []
    await c.present("refresh", "refresh", refresh_token, probe="revoked")
    for token, _ in held:
        await c.present("held_refresh", "refresh", token, probe="revoked")
    for kind, token in stale:
        await c.present("outage_logout_all", kind, token, probe="revoked")


def _acknowledged(c: AuthClient, op: Op, token: str | None, *same_grant: str | None) -> None:
    """Record on ``op`` what its 200 revoked: ``token`` by its id, and the sessions of it and ``same_grant``."""
    claims = protocol.peek(token, c.claims)
    op.revoked_ids = [claims["tokenId"]] if claims.get("tokenId") else []
    families = [protocol.peek(t, c.claims).get("family") for t in (token, *same_grant)]
    op.revoked_families = sorted({f for f in families if f})


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
        _acknowledged(c, op, access, refresh_token)
        await c.present("me", "access", access, probe="revoked")


@operation(uses=("login", "logout_all", "refresh"))
async def logout_all(c: AuthClient) -> None:
    """Log out every session of the user (all clients share it): each must stop working at once, and so must a
    pre-fix refresh token issued before it (no family to revoke: only the user's cut-off time stops it)."""
    await _log_out_all(c)


async def _log_out_all(c: AuthClient) -> Op:
    """``logout_all``'s body, its row returned (``cross_user`` needs to know whether it was answered)."""
    stale = _legacy_refresh_token(c, issued_ago_s=LEGACY_BEFORE_LOGOUT_ALL_S) if c.keys is not None else None
    op, _, refresh_token = await _log_out(c, "logout_all", with_refresh=False)
    op.revoked_user = c.user[0]  # the target, whatever the answer: a lost answer may still have revoked them all
    if op.status == 200:
        await c.present("refresh", "refresh", refresh_token, probe="revoked")
        if stale is not None:
            await c.present("refresh", "refresh", stale, probe="revoked")
    return op


@operation(uses=("login", "me", "refresh"), needs_session=False)
async def recheck_revoked(c: AuthClient) -> None:
    """Present a token revoked earlier (access at /auth/me, refresh at /auth/refresh): revocations must
    survive restarts, outages and other workers."""
    if not c.revoked:
        await run_operation(c, "me")
        return
    # a third of the time one of the run's first revocations (older than any fault: a TTL cut short or a revocation
    # only the process that wrote it remembers shows on them after a restart), a third the oldest recent one,
    # a third any recent one
    pick = c.rng.random()
    if pick < 1 / 3 and c.revoked_early:
        kind, token = c.rng.choice(c.revoked_early)
    else:
        kind, token = c.revoked[0] if pick < 2 / 3 else c.rng.choice(c.revoked)
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
        # unique per token: two clients minting in the same second with the same lifetime would otherwise mint the
        # same token, and the second exchange would be a (true) reuse that revokes the first client's session
        "email": f"{c.user[0]}+{c.cid}-{c.rng.getrandbits(40):x}@example.com",
        "iat": now,
        "exp": now + left,
        "iss": c.keys.issuer,
        "aud": c.keys.audience,
    }
    return sign(payload, c.keys.refresh_secret)


def _legacy_access_token(c: AuthClient, *, issued_ago_s: int = 0) -> str:
    """An access token of the pre-fix shape: no tokenId, family, type or kid (the OAuth bug's token)."""
    assert c.keys is not None
    now = int(time.time()) - issued_ago_s
    payload = {"sub": c.user[0], "userId": c.user[0], "iat": now, "exp": now + 600}
    return sign({**payload, "iss": c.keys.issuer, "aud": c.keys.audience}, c.keys.access_secret)


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
    """The admin session batch blacklists need; logs in (one op) when there is none or it is about to expire."""
    if c.admin_access is not None and not c.expires_within(c.admin_access, RENEW_BEFORE_S):
        return True
    op, body = await c.send("login", "login", username=c.admin[0], password=c.admin[1])
    if op.status == 200 and isinstance(body, dict):
        c.admin_access, c.admin_refresh = body.get("access_token"), body.get("refresh_token")
        c.note_pair(op, body)
        op.user = c.admin[0]
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
    ttl_s = int(min(BATCH_TOKEN_TTL_S, c.access_ttl_s))  # no longer than the service's own access tokens
    tokens = [mint(keys, "access", claims, ttl_s=ttl_s, names=c.claims) for claims in fresh]
    op, _ = await c.send("blacklist_batch", "blacklist", token=c.admin_access, access=c.admin_access, tokens=tokens)
    if op.status == 200:
        op.revoked_ids = [protocol.peek(t, c.claims)["tokenId"] for t in tokens]
        victims = _spread(tokens)
        for victim in victims:  # presented again later: a blacklist entry must outlive the seconds after it
            c.remember_revoked("access", victim)
        await c.present("me", "access", victims[-1], probe="revoked")
        for victim in victims:  # and in their last moment: no family stands in for them
            c.schedule_end_of_life(victim, "recheck_revoked", "access", LAST_MOMENT_S, probe="revoked")
    elif op.status == 401:
        c.admin_access = None


@operation(uses=("login", "blacklist", "me"))
async def blacklist_session(c: AuthClient) -> None:
    """As admin, blacklist this client's own refresh token: its whole family goes, so its access token,
    issued in the same grant, must be rejected too (RFC 7009)."""
    access = await _blacklist_own_session(c)
    if access is not None:
        await c.present("me", "access", access, probe="revoked")


@operation(uses=("login", "blacklist", "me"), needs_session=False)
async def family_recheck(c: AuthClient) -> None:
    """Revoke this client's session as ``blacklist_session`` does and keep its access token, revoked only through
    its family (its own id was never named); once ``FAMILY_HELD`` are kept, present them all at /auth/me on every
    call. Through an outage that begins later, the process that wrote those revocations must still honour them by
    family: a local check that looks at the token's id alone accepts them, degraded."""
    if len(c.family_revoked) >= FAMILY_HELD:
        for token in c.family_revoked:
            await c.present("recheck_revoked", "access", token, probe="revoked")
        return
    if c.access is None:
        await login(c)
        return
    access = await _blacklist_own_session(c)
    if access is not None:
        c.family_revoked.append(access)


@operation(uses=("login", "logout", "blacklist", "me", "refresh"), needs_session=False)
async def revoked_set_aside(c: AuthClient) -> None:
    """Revoke one token of each shape the store keeps and set them aside: a session blacklisted by its refresh
    token (its access token is revoked through the family only), a logout with the access token alone (its refresh
    token through the family only, its access token by id and family at once), a batch entry (an access token by
    its id alone) and the successor pair of a family revoked by reuse. Every call presents what is aside so far,
    then takes the next step. Only a process that did not write them (after a restart) shows a revocation that
    lives in the process but not in Redis: its TTL, its key, how its EXISTS is read, or a guard that needs two
    keys where one is enough."""
    for kind, token in c.set_aside:
        await c.present("recheck_revoked", kind, token, probe="revoked")
    if c.set_aside_step < len(SET_ASIDE_STEPS) and await SET_ASIDE_STEPS[c.set_aside_step](c):
        c.set_aside_step += 1


async def _aside_blacklisted_session(c: AuthClient) -> bool:
    if c.access is None:
        await login(c)
        return False
    access = await _blacklist_own_session(c)
    if access is not None:
        c.set_aside.append(("access", access))
    return access is not None


async def _aside_logout(c: AuthClient) -> bool:
    if c.access is None:
        await login(c)
        return False
    op, access, refresh_token = await _log_out(c, "logout", with_refresh=False)
    if op.status != 200:
        return False
    _acknowledged(c, op, access, refresh_token)
    c.set_aside += [("refresh", str(refresh_token)), ("access", str(access))]
    return True


async def _aside_batch_entry(c: AuthClient) -> bool:
    if c.keys is None:
        return True  # no keys to mint with: this shape is left out
    if not await _admin(c):
        return False
    claims = {"sub": c.user[0], "tokenId": f"sa-{c.cid}-{c.rng.getrandbits(64):x}"}
    token = mint(c.keys, "access", claims, ttl_s=int(min(BATCH_TOKEN_TTL_S, c.access_ttl_s)), names=c.claims)
    op, _ = await c.send("blacklist_batch", "blacklist", token=c.admin_access, access=c.admin_access, tokens=[token])
    if op.status != 200:
        if op.status == 401:
            c.admin_access = None
        return False
    op.revoked_ids = [str(claims["tokenId"])]
    c.set_aside.append(("access", token))
    return True


async def _aside_reused_family(c: AuthClient) -> bool:
    """Rotate, replay the rotated token (reuse: the family is revoked) and set the successor pair aside."""
    if c.access is None:
        await login(c)
        return False
    if not c.rotated:
        await refresh(c)
        return False
    old = c.rotated[-1]
    access, refresh_token = c.access, c.refresh_token
    op = await _replay(c, old)
    if op.error != "token_reused":  # a grace sibling (the window allows it: this shape is left out) or no answer
        c.forget_session()
        return op.status == 200
    c.set_aside += [("refresh", str(refresh_token)), ("access", str(access))]
    c.forget_session()
    return True


SET_ASIDE_STEPS: tuple[Callable[[AuthClient], Awaitable[bool]], ...] = (
    _aside_blacklisted_session,
    _aside_logout,
    _aside_batch_entry,
    _aside_reused_family,
)


async def _blacklist_own_session(c: AuthClient) -> str | None:
    """As admin, blacklist this client's refresh token; on a 200, the access token of the same grant (now revoked
    through its family) and the client has no session."""
    if not await _admin(c):
        return None
    access, refresh_token = c.access, c.refresh_token
    op, _ = await c.send(
        "blacklist_session", "blacklist", token=c.admin_access, access=c.admin_access, tokens=[refresh_token]
    )
    # the row names the session it acts on (not the admin's bearer): with no answer, or a 5xx whose write may
    # have landed, that is the session that may be revoked
    victim = protocol.peek(refresh_token, c.claims)
    op.token_id, op.family = victim.get("tokenId"), victim.get("family")
    if op.status == 200:
        _acknowledged(c, op, refresh_token)
        c.forget_session()
        c.remember_revoked("refresh", refresh_token)
        c.remember_revoked("access", access)
        return access
    if op.status in (401, 403):
        c.admin_access = None
    return None


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


def late_replay_due(c: AuthClient) -> bool:
    return c.late is not None and time.monotonic() - c.late[1] >= c.reuse_grace_s + JUST_PAST_S


@operation(uses=("login", "refresh", "logout", "logout_all", "blacklist"))
async def cross_user(c: AuthClient) -> None:
    """This user acts on another user's session (the admin's, which this client also holds): presents a refresh
    token naming the admin's session under its own subject (signed with the service's key, as a leaked key or a
    confused issuer would), logs out with the admin's refresh token in the body, logs out all of its own
    sessions, or batch-blacklists the admin's refresh token without being an admin. Then the admin refreshes:
    the victim's session must be whole whatever the user did."""
    held = c.admin_access
    if not await _admin(c) and c.admin_access == held:  # no new admin session: a stale one would be refused
        return
    if c.admin_access is None or c.admin_refresh is None:
        return
    victim = c.admin_refresh
    # in turn, not drawn: with four clients or more holding the key, their first calls make every move (without
    # the key, three moves, from cid % 3); a move the service could not judge is made again on the next call
    moves = CROSS_USER_MOVES if c.keys is not None else CROSS_USER_MOVES[1:]
    judged = await _cross_move(c, moves[(c.cid + c.cross_step) % len(moves)], victim)
    op, body = await c.send("owner_refresh", "refresh", token=victim, refresh=victim)
    c.note_pair(op, body)
    if op.status == 200 and isinstance(body, dict):
        c.admin_access, c.admin_refresh = body.get("access_token"), body.get("refresh_token")
    elif op.status != 503:  # refused, or no answer (it may have rotated): the admin logs in again next time
        c.admin_access = c.admin_refresh = None
    if judged and op.status not in (None, 503):
        c.cross_step += 1


async def _cross_move(c: AuthClient, move: str, victim: str) -> bool:
    """One of ``cross_user``'s moves on the admin's session ``victim``; True when the service answered it in a
    way that judged the move (a 401 for this user's own ended session, a 503 or no answer did not)."""
    if move == "logout":
        access = c.access  # a logout like any other (its row too), with the admin's refresh token in the body
        op, _ = await c.send("logout", "logout", token=access, access=access, refresh=victim)
        if op.status == 200:  # only its own session may end
            _acknowledged(c, op, access)
            c.remember_revoked("access", access)
        if op.status in (200, 401):
            c.forget_session()
        return op.status == 200  # a 401 came before any look at the body: this user's own session had ended
    if move == "logout_all":
        return (await _log_out_all(c)).status == 200
    if move == "not_admin":
        op, _ = await c.send("cross_user", "blacklist", token=c.access, access=c.access, tokens=[victim])
        _probe(op, "not_admin")
        return op.status in (200, 403)  # a 401: this user's own access token had ended, no role was looked at
    assert c.keys is not None  # foreign_subject
    claims = protocol.peek(victim, c.claims)
    forged = {"sub": c.user[0], "tokenId": claims.get("tokenId"), "family": claims.get("family")}
    op = await c.present(
        "cross_user", "refresh", mint(c.keys, "refresh", forged, ttl_s=600, names=c.claims), probe="foreign_subject"
    )
    return op.status not in (None, 503)


@operation(uses=("login", "logout", "me", "refresh"))
async def revoke_and_outlive(c: AuthClient) -> None:
    """Log out this session, then present its access and refresh tokens again in the last moment of their lives
    (``LAST_MOMENT_S`` before exp + leeway): a revocation must outlive its token to the end, so an entry written
    with a TTL rounded down, cut short or read in the wrong unit lapses first and shows here."""
    op, access, refresh_token = await _log_out(c, "logout", with_refresh=True)
    if op.status != 200:
        return
    _acknowledged(c, op, access, refresh_token)
    # the access token only: the refresh token's session lapses with its idle lifetime, whatever was revoked
    c.schedule_end_of_life(access, "recheck_revoked", "access", LAST_MOMENT_S, probe="revoked")


@operation(uses=("login", "refresh"))
async def idle_refresh(c: AuthClient) -> None:
    """Rotate, set the new pair aside, and refresh it ``IDLE_MARGIN_S`` before its exp: a session stays refreshable
    for its whole idle lifetime after a rotation (a rotation that does not extend the session's keys in Redis
    loses it early: 401 for a session nobody revoked)."""
    token = c.refresh_token
    op, body = await c.send("refresh", "refresh", token=token, refresh=token)
    c.note_pair(op, body)
    if op.status == 200 and isinstance(body, dict) and body.get("refresh_token"):
        # before exp itself, not exp + leeway: the session's idle lifetime in Redis ends at exp
        c.schedule_end_of_life(str(body["refresh_token"]), "idle_refresh", "refresh", IDLE_MARGIN_S + c.leeway_s)
    c.forget_session()


@operation(uses=("login", "refresh"))
async def rotate_and_rest(c: AuthClient) -> None:
    """Rotate, leave the new pair untouched for REST_S, then refresh it (row ``idle_refresh``): a session that
    was rotated and then sat idle is live, whatever a maintenance pass makes of its age in between."""
    token = c.refresh_token
    op, body = await c.send("refresh", "refresh", token=token, refresh=token)
    c.note_pair(op, body)
    if op.status == 200 and isinstance(body, dict) and body.get("refresh_token"):
        c.schedule_in(str(body["refresh_token"]), "idle_refresh", "refresh", REST_S)
    c.forget_session()


@operation(uses=("login", "refresh", "me"), settings=("AUTHCHAOS_SESSION_MAX_S",))
async def outlive_session(c: AuthClient) -> None:
    """Open a second session and rotate it every second until its absolute lifetime (``AUTHCHAOS_SESSION_MAX_S``,
    counted from the login however often it rotates) has passed: every rotation renews the idle lifetime, so only
    the absolute bound can end it. Rotations while the session surely lives are ordinary refreshes; those near its
    end (it may be over, or in its leeway) are probes ``session_ending``, either answer fine; once it is surely
    over, its newest refresh and access tokens are presented (probes ``session_ended``, to be refused). A service
    counting the lifetime from the last rotation (or not at all) keeps rotating it. A lifetime beyond a run's
    reach (``OUTLIVE_WITHIN_S``), or a session already outliving: an ordinary refresh."""
    if c.outliving is not None or c.session_max_s > OUTLIVE_WITHIN_S:
        await refresh(c)
        return
    sent = time.monotonic()
    op, body = await c.send("login", "login", username=c.user[0], password=c.user[1])
    c.note_pair(op, body)
    op.user = c.user[0]
    if op.status != 200 or not isinstance(body, dict) or not body.get("refresh_token"):
        return
    # the session began when the service answered at the latest, at its login at the earliest
    over_at = time.monotonic() + c.session_max_s + c.leeway_s + PAST_END_S
    last = sent + c.session_max_s - OUTLIVE_LAST_S
    o = Outliving(str(body["refresh_token"]), body.get("access_token"), over_at, next_rotation=0.0, last_rotation=last)
    o.next_rotation = _next_rotation(o)
    c.outliving = o


def _next_rotation(o: Outliving) -> float:
    return min(time.monotonic() + OUTLIVE_EVERY_S, o.over_at)


def outliving_due(c: AuthClient) -> bool:
    return c.outliving is not None and time.monotonic() >= c.outliving.next_rotation


async def outlive_step(c: AuthClient) -> None:
    """The outliving session's next rotation, or the presentations once it is surely over."""
    o = c.outliving
    if o is None:
        return
    now = time.monotonic()
    if now >= o.over_at:
        c.outliving = None
        await c.present("session_ended", "refresh", o.refresh, probe="session_ended")
        await c.present("session_ended", "access", o.access, probe="session_ended")
        return
    ending = now > o.last_rotation
    op, body = await c.send("session_ending" if ending else "refresh", "refresh", token=o.refresh, refresh=o.refresh)
    c.note_pair(op, body)
    if ending:  # near its end or in its leeway: accepted or refused, both are right
        _probe(op, "session_ending", refused=(200, 401))
    if op.status == 200 and isinstance(body, dict) and body.get("refresh_token"):
        o.refresh, o.access = str(body["refresh_token"]), body.get("access_token")
        o.next_rotation = _next_rotation(o)
    elif ending and op.status is not None:
        o.next_rotation = o.over_at  # ended in time: its newest pair is still presented once it is surely over
    else:
        c.outliving = None  # refused while it surely lived (judged) or unknown: nothing left to outlive


@operation(
    uses=("login",),
    needs_session=False,
    settings=("AUTHCHAOS_LOGIN_MAX_FAILURES_PER_CLIENT", "AUTHCHAOS_LOGIN_CLIENT_WINDOW_S"),
)
async def guess_password(c: AuthClient) -> None:
    """Guess an account's password from this address: ``AUTHCHAOS_LOGIN_MAX_FAILURES_PER_CLIENT`` wrong guesses
    (401), then one more at once and more 1, 2, 3 and 4 s later while surely inside the window (429
    login_throttled, the password unchecked: on whichever process serves then, one restarted meanwhile too), and
    one just past the
    window (a fixed window ends: 401 again). The account exists nowhere (a throttle must not tell which do) and
    is this client's alone: nobody else's guesses count for it. A throttle off, or a window beyond a run's
    reach: the budget's guesses only."""
    if c.login_budget <= 0 or len(c.later_guesses) >= GUESSES_KEPT:
        await run_operation(c, "me")
        return
    account = f"nobody-{c.cid}-{c.rng.getrandbits(32):08x}"
    first: Op | None = None
    for _ in range(c.login_budget + 1):
        op = await _guess(c, account)
        if op.status is None or op.status >= 500:
            return  # whether it counted is unknown: this account says nothing more
        first = first or op
    if first is not None and c.login_window_s <= GUESS_WITHIN_S:
        now = time.monotonic()
        since_first = (time.monotonic_ns() - first.end_ns) / 1e9  # the window runs from the first failure's answer
        past = now - since_first + c.login_window_s + PAST_WINDOW_S
        ends = past - PAST_WINDOW_S
        inside = [LaterGuess(now + after, account) for after in GUESS_AGAIN_S if now + after < ends - GUESS_INSIDE_S]
        c.later_guesses += [*inside, LaterGuess(past, account)]


async def _guess(c: AuthClient, account: str) -> Op:
    op, _ = await c.send("guess_login", "login", username=account, password=f"guess-{c.rng.getrandbits(32):x}")
    op.user = account
    return _probe(op, "guess", refused=(401, 429))


@operation(uses=("login", "refresh", "me", "blacklist"), needs_session=False, directory=True)
async def retire_account(c: AuthClient) -> None:
    """Log in as one of this client's own members and one of its staff (admins), use both (the member's /auth/me,
    the staff's batch blacklist: what a process may remember of them, it now has), then change the directory: the
    member removed or disabled (in turn), the staff demoted. Two reload intervals (``AUTHCHAOS_USERS_RELOAD_S``)
    later, whatever the mix draws: the member's access token at /auth/me, its refresh token and its password
    login must be refused (probes ``account_gone``); the staff's batch blacklist with its pre-demotion access
    token (twice: a second chance at another process) and with one from a refresh after must be refused (probes
    ``demoted``). Every client has accounts of its own (``service.accounts``); once it has used them all, a plain
    /auth/me."""
    taken = c.accounts.take(c.cid) if c.accounts is not None else None
    if taken is None or c.accounts is None:
        await run_operation(c, "me")
        return
    member, staff = taken
    member_pair = await _log_in_as(c, member)
    staff_pair = await _log_in_as(c, staff)
    if member_pair is None or staff_pair is None:
        return
    used, _ = await c.send("me", "me", token=member_pair[0], access=member_pair[0])
    tokens = [_throwaway_access_token(c)] if c.keys is not None else []
    staff_used, _ = await c.send(
        "staff_blacklist", "blacklist", token=staff_pair[0], access=staff_pair[0], tokens=tokens
    )
    if used.status != 200 or staff_used.status != 200:
        return  # the accounts never worked as they were: taking them away would prove nothing
    removed = (c.cid + len(c.accounts.unused.get(c.cid, []))) % 2 == 0
    c.accounts.change(member.username, "remove" if removed else "disable")
    c.accounts.change(staff.username, "demote")
    due = time.monotonic() + 2 * c.users_reload_s + RELOADED_AFTER_S
    c.retired.append(Retirement(due, member, member_pair, staff, staff_pair))


async def _log_in_as(c: AuthClient, account: Account) -> tuple[str | None, str | None] | None:
    op, body = await c.send("login", "login", username=account.username, password=account.password)
    c.note_pair(op, body)
    op.user = account.username
    if op.status != 200 or not isinstance(body, dict):
        return None
    return body.get("access_token"), body.get("refresh_token")


async def _present_retired(c: AuthClient) -> bool:
    """Send what a directory change must have ended, once every process has the new file."""
    now = time.monotonic()
    due = next((r for r in c.retired if r.due <= now), None)
    if due is None:
        return False
    c.retired.remove(due)
    access, refresh_token = due.member_pair
    await c.present("account_gone", "access", access, probe="account_gone")
    await c.present("account_gone", "refresh", refresh_token, probe="account_gone")
    op, _ = await c.send("account_gone", "login", username=due.member.username, password=due.member.password)
    op.user = due.member.username
    _probe(op, "account_gone")
    staff_access, staff_refresh = due.staff_pair
    await _blacklist_as_demoted(c, staff_access)
    await _blacklist_as_demoted(c, staff_access)
    op, body = await c.send("refresh", "refresh", token=staff_refresh, refresh=staff_refresh)
    c.note_pair(op, body)
    if op.status == 200 and isinstance(body, dict):
        await _blacklist_as_demoted(c, body.get("access_token"))
    return True


async def _blacklist_as_demoted(c: AuthClient, access: str | None) -> None:
    """A batch blacklist by a demoted admin: of a throwaway token (minted, where the keys are known), or of none."""
    tokens = [_throwaway_access_token(c)] if c.keys is not None else []
    op, _ = await c.send("demoted", "blacklist", token=access, access=access, tokens=tokens)
    _probe(op, "demoted")


def _throwaway_access_token(c: AuthClient) -> str:
    assert c.keys is not None
    claims = {"sub": c.user[0], "tokenId": f"tw-{c.cid}-{c.rng.getrandbits(48):x}", "family": f"twf-{c.cid}"}
    return mint(c.keys, "access", claims, ttl_s=min(60, int(c.access_ttl_s)), names=c.claims)


async def _send_guess_due(c: AuthClient) -> bool:
    now = time.monotonic()
    due = min((g for g in c.later_guesses if g.due <= now), default=None)
    if due is None:
        return False
    c.later_guesses.remove(due)
    await _guess(c, due.account)
    return True


async def _send_due(c: AuthClient) -> bool:
    """Send the first boundary presentation whose time has come; True when one was sent. One whose moment has
    passed (the client was waiting out a Retry-After, or busy) is dropped and counted: late, it proves nothing."""
    now = time.monotonic()
    ready = sorted(d for d in c.due if d.due <= now)
    for late in [d for d in ready if d.latest < now]:
        c.due.remove(late)
        c.missed_due += 1
    first = next((d for d in ready if d.latest >= now), None)
    if first is None:
        return False
    c.due.remove(first)
    await c.present(first.name, first.kind, first.token, probe=first.probe)
    return True


async def _timed_first(c: AuthClient) -> bool:
    """Send the first presentation whose moment has come (its timing is the witness); True when one was sent."""
    if late_replay_due(c):
        await late_replay(c)
        return True
    if outliving_due(c):
        await outlive_step(c)
        return True
    return await _send_guess_due(c) or await _present_retired(c) or await _send_due(c)


async def run_operation(client: AuthClient, name: str) -> None:
    """One registered operation by name; one that needs a session logs in instead while there is none. A late
    replay or a boundary presentation that is due goes first, at once: its timing is the witness, not the
    mix's draw. With short lifetimes a client renews its access token before it expires, as real clients do."""
    if await _timed_first(client):
        return
    if client.refresh_token is not None and client.expires_within(client.refresh_token, RENEW_BEFORE_S):
        client.forget_session()  # its session ends (an absolute lifetime): log in again rather than present it late
    if client.access is not None and client.expires_within(client.access, RENEW_BEFORE_S):
        await refresh(client)
        return
    operation = OPERATIONS[name]
    if operation.needs_session and client.access is None:
        await OPERATIONS["login"].fn(client)
        return
    await operation.fn(client)
