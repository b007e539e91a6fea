"""What a simulated client can do: each operation registers itself with ``@operation``.

A scenario's ``workload.mix`` names these; the scenario model validates against
``OPERATIONS``. Adding an operation is one decorated function here plus its test.
Every call goes through ``AuthClient.call`` so it lands in the history as one row.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness import protocol
from harness.tokens import mint, sign
from harness.workload.client import AuthClient

OperationFn = Callable[[AuthClient], Awaitable[None]]
LEGACY_REFRESH_TTL_S = 604_800  # the pre-fix service's refresh lifetime


@dataclass(frozen=True)
class Operation:
    name: str
    fn: OperationFn
    needs_session: bool  # without a session the client logs in instead


OPERATIONS: dict[str, Operation] = {}


def operation(*, needs_session: bool = True) -> Callable[[OperationFn], OperationFn]:
    def register(fn: OperationFn) -> OperationFn:
        OPERATIONS[fn.__name__] = Operation(fn.__name__, fn, needs_session)
        return fn

    return register


@operation(needs_session=False)
async def login(c: AuthClient) -> None:
    op, body = await c.call("login", "POST", protocol.LOGIN, json={"username": c.user[0], "password": c.user[1]})
    c.take_pair(op, body)


@operation(needs_session=False)
async def oauth_login(c: AuthClient) -> None:
    params = {"provider": "demo", "code": f"user:{c.user[0]}"}
    op, body = await c.call("oauth_login", "GET", protocol.OAUTH_CALLBACK, params=params)
    c.take_pair(op, body)


@operation()
async def refresh(c: AuthClient) -> None:
    token = c.refresh_token
    op, body = await c.call("refresh", "POST", protocol.REFRESH, token=token, json={"refresh_token": token})
    c.take_pair(op, body, rotated=token)
    if op.status == 401:
        c.forget_session()


@operation()
async def me(c: AuthClient) -> None:
    op, _ = await c.call("me", "GET", protocol.ME, token=c.access, headers=c.bearer(c.access))
    if op.status == 401:
        c.forget_session()


@operation()
async def replay(c: AuthClient) -> None:
    """Present the previous (already rotated) refresh token, as a thief would."""
    token = c.previous_refresh
    if token is None:
        await refresh(c)
        return
    op, _ = await c.call("replay", "POST", protocol.REFRESH, token=token, json={"refresh_token": token})
    op.probe = "replayed"
    c.previous_refresh = None
    if op.status == 200:
        return  # a grace-window sibling: the service may allow it
    c.forget_session()  # the family is revoked: log in again


@operation()
async def logout(c: AuthClient) -> None:
    access, refresh_token = c.access, c.refresh_token
    op, _ = await c.call("logout", "POST", protocol.LOGOUT, token=access, headers=c.bearer(access),
                         json={"refresh_token": refresh_token})  # fmt: skip
    if op.status == 200:
        claims = protocol.peek(access)
        op.revoked_ids = [claims["tokenId"]] if claims.get("tokenId") else []
        families = (claims.get("family"), protocol.peek(refresh_token).get("family"))
        op.revoked_families = sorted({f for f in families if f})
        c.forget_session()
        c.remember_revoked(access)
        probe, _ = await c.call("me", "GET", protocol.ME, token=access, headers=c.bearer(access))
        probe.probe = "revoked"
        probe.outcome = "ok" if probe.status == 401 else "fail"
    elif op.status == 401:
        c.forget_session()


@operation(needs_session=False)
async def recheck_revoked(c: AuthClient) -> None:
    """Present an access token revoked earlier: revocations must survive restarts and outages."""
    if not c.revoked_access:
        await c.run("me")
        return
    token = c.rng.choice(c.revoked_access)
    op, _ = await c.call("recheck_revoked", "GET", protocol.ME, token=token, headers=c.bearer(token))
    op.probe = "revoked"
    op.outcome = "ok" if op.status == 401 else ("unknown" if op.status is None else "fail")


@operation(needs_session=False)
async def legacy_refresh(c: AuthClient) -> None:
    """Exchange a refresh token of the pre-fix fallback shape (no tokenId/family/type): accepted once."""
    if c.keys is None:
        await c.run("refresh")
        return
    now = int(time.time())
    payload = {
        "sub": c.user[0], "userId": c.user[0], "email": f"{c.user[0]}@example.com", "iat": now,
        "exp": now + LEGACY_REFRESH_TTL_S - c.rng.randrange(3600), "iss": c.keys.issuer, "aud": c.keys.audience,
    }  # fmt: skip
    token = sign(payload, c.keys.refresh_secret)
    op, body = await c.call("legacy_refresh", "POST", protocol.REFRESH, json={"refresh_token": token})
    c.take_pair(op, body)


@operation()
async def blacklist_batch(c: AuthClient) -> None:
    """As admin: revoke a batch of freshly minted access tokens, then check one is rejected."""
    if c.keys is None:
        await c.run("me")
        return
    if c.admin_access is None:
        op, body = await c.call("login", "POST", protocol.LOGIN, json={"username": c.admin[0], "password": c.admin[1]})
        if op.status == 200:
            c.admin_access = body["access_token"]
        return
    keys, size = c.keys, c.rng.choice(c.batch_sizes)
    tokens = [
        mint(keys, "access", {"sub": c.user[0], "tokenId": f"bl-{c.cid}-{c.rng.getrandbits(64):x}"}, ttl_s=600)
        for _ in range(size)
    ]
    op, _ = await c.call("blacklist_batch", "POST", protocol.BLACKLIST, token=c.admin_access,
                         headers=c.bearer(c.admin_access), json={"tokens": tokens})  # fmt: skip
    if op.status == 200:
        op.revoked_ids = [protocol.peek(t)["tokenId"] for t in tokens]
        victim = c.rng.choice(tokens)
        c.remember_revoked(victim)
        probe, _ = await c.call("me", "GET", protocol.ME, token=victim, headers=c.bearer(victim))
        probe.probe = "revoked"
        probe.outcome = "ok" if probe.status == 401 else "fail"
    elif op.status == 401:
        c.admin_access = None
