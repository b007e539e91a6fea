"""One simulated user: keeps its own tokens and reacts to answers as a real client would.

- always refreshes with its newest refresh token;
- 401 on its session: forgets its tokens and logs in again next time;
- 503: keeps its tokens and waits for Retry-After before the next call;
- a timed-out write leaves it unsure: the op is recorded ``unknown`` and the
  client keeps what it had (as a browser would).

What a client does is in ``operations``; this is its state and the one way it talks HTTP.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from authchaos.record import protocol
from authchaos.record.exchange import build_request, reading
from authchaos.record.history import History, Op
from authchaos.record.service_contract import ServiceContract
from authchaos.record.token_keys import TokenKeys
from authchaos.workload.account_directory import Account, AccountDirectory

ROTATED_KEPT = 3  # the immediate predecessor and two older ones
REVOKED_KEPT = 50  # revoked tokens a client remembers, to present again later
EARLY_REVOKED_KEPT = 12  # and the first ones of the run, kept to its end: revocations older than any fault


DUE_KEPT = 200  # boundary presentations a client holds at once
DUE_SLACK_S = 0.15  # how late one may still be sent (at most half its margin before the boundary)


@dataclass(frozen=True, order=True)
class Due:
    """A presentation at a token's boundary: from ``due`` (monotonic), and no later than ``latest``."""

    due: float
    latest: float
    name: str
    kind: str
    token: str
    probe: str | None


@dataclass(frozen=True)
class ServiceTimes:
    """The service's timing settings the boundary operations aim at (from the environment it was given)."""

    reuse_grace_s: float = 0.0
    leeway_s: float = 5.0
    access_ttl_s: float = 900.0
    session_max_s: float = 2_592_000.0  # a session's absolute lifetime, however often it rotates
    login_budget: int = 5  # failed logins of one account from one address before the throttle refuses (0: off)
    login_window_s: float = 900.0  # the throttle's fixed window, from the first failure
    users_reload_s: float = 1.0  # how often each service process re-reads its users file


@dataclass
class Outliving:
    """A session rotated past its absolute end (``outlive_session``): its newest pair, when it is surely over
    (monotonic), and when to rotate it next."""

    refresh: str
    access: str | None
    over_at: float
    next_rotation: float
    last_rotation: float = 0.0  # no rotation after this: from here on the session may be over


@dataclass(frozen=True)
class Retirement:
    """Accounts changed in the directory (``retire_account``) and what they held before, to present once every
    process has the new file (``due``, monotonic): the member removed or disabled, the staff demoted."""

    due: float
    member: Account
    member_pair: tuple[str | None, str | None]
    staff: Account
    staff_pair: tuple[str | None, str | None]


@dataclass(frozen=True, order=True)
class LaterGuess:
    """A wrong password for ``account`` to send at ``due`` (monotonic): inside the throttle's window or past it."""

    due: float
    account: str


DEFAULT_TIMES = ServiceTimes()


@dataclass(frozen=True)
class ServiceSide:
    """What the clients know of the service they drive: its contract, its keys (None: black box), its timing
    settings, and its users file when the harness manages it."""

    contract: ServiceContract
    keys: TokenKeys | None = None
    times: ServiceTimes = DEFAULT_TIMES
    accounts: AccountDirectory | None = None


class AuthClient:
    def __init__(
        self,
        cid: int,
        http: httpx.AsyncClient,
        history: History,
        rng: random.Random,
        *,
        keys: TokenKeys | None,
        batch_sizes: list[int],
        contract: ServiceContract,
        times: ServiceTimes = DEFAULT_TIMES,
        accounts: AccountDirectory | None = None,
    ) -> None:
        self.cid = cid
        self.reuse_grace_s = times.reuse_grace_s  # the service's grace window: ``late_replay`` presents just past it
        self.leeway_s = times.leeway_s  # the service's clock-skew leeway: a token lives until exp + leeway
        self.access_ttl_s = times.access_ttl_s  # tokens this client mints live no longer than the service's
        self.session_max_s = times.session_max_s  # ``outlive_session`` rotates a session past this
        self.login_budget, self.login_window_s = times.login_budget, times.login_window_s  # ``guess_password``
        self.users_reload_s = times.users_reload_s  # ``retire_account`` waits for every process to reload
        self.accounts = accounts  # the users file the harness manages, if it does
        self.http = http
        self.history = history
        self.rng = rng
        self.keys = keys
        self.batch_sizes = batch_sizes
        self.contract = contract
        users = contract.users
        self.user = (users.user.username, users.user.password)
        self.admin = (users.admin.username, users.admin.password) if users.admin else ("", "")
        self.claims: protocol.ClaimNames = contract.claims.names
        self.access: str | None = None
        self.refresh_token: str | None = None
        self.rotated: list[str] = []  # this session's rotated refresh tokens, newest last (for replays)
        self.late: tuple[str, float] | None = None  # a rotated token set aside, and when (``late_replay``)
        self.held: list[tuple[str, float]] = []  # refresh tokens of sessions set aside untouched (``held_session``)
        self.admin_access: str | None = None
        self.admin_refresh: str | None = None  # the admin's session, the victim of ``cross_user``
        self.legacy: list[tuple[str, str | None]] = []  # legacy tokens exchanged, and the family each became
        self.revoked: list[tuple[str, str]] = []  # (kind, token) whose revocation was acknowledged (recent ones)
        self.revoked_early: list[tuple[str, str]] = []  # the run's first such tokens, never rolled off
        self.family_revoked: list[str] = []  # access tokens revoked through their family only (``family_recheck``)
        self.set_aside: list[tuple[str, str]] = []  # (kind, token) of each revoked shape (``revoked_set_aside``)
        self.set_aside_step = 0
        self.cross_step = 0  # ``cross_user``'s moves, taken in turn from a start that differs per client
        self.wait_until = 0.0
        self.due: list[Due] = []  # presentations at a token's boundary, sent when due whatever the mix draws
        self.missed_due = 0  # those whose moment passed before the client could send them
        self.outliving: Outliving | None = None  # a session rotated until past its absolute end
        self.later_guesses: list[LaterGuess] = []  # ``guess_password``'s guesses still to send
        self.retired: list[Retirement] = []  # ``retire_account``'s changes whose effect is still to present

    async def send(self, name: str, operation: str, *, token: str | None = None, **args: Any) -> tuple[Op, Any]:
        """One contract operation (``login``, ``refresh``, ...) with its arguments, recorded as the history row
        ``name``; the answer comes back in canonical words (``exchange.read_answer``)."""
        spec = self.contract.operation(operation)
        if spec is None:
            raise LookupError(f"the contract declares no {operation}")
        req = build_request(spec, args, username=self.user[0])
        kw = req.options()
        return await self.call(name, req.method, req.path, token=token, reading=reading(self.contract, spec), **kw)

    async def call(
        self,
        name: str,
        method: str,
        url: str,
        *,
        token: str | None = None,
        reading: protocol.Reading = protocol.REFERENCE_READING,
        **kw: Any,
    ) -> tuple[Op, Any]:
        """One exchange, recorded as one history row (``protocol.row``); ``token`` is the one presented."""
        start = time.monotonic_ns()
        op = self.history.start(self.cid, name, start)
        try:
            response: httpx.Response | None = await self.http.request(method, url, **kw)
            error: BaseException | None = None
        except httpx.TransportError as exc:  # timeouts included
            response, error = None, exc
        row, body = protocol.row_from_response(
            name,
            self.cid,
            start,
            time.monotonic_ns(),
            token=token,
            error=error,
            status=response.status_code if response is not None else None,
            headers=response.headers if response is not None else None,
            text=response.text if response is not None else None,
            reading=reading,
        )
        op.update(row)
        if op.status == 503 and op.retry_after:
            self.wait_until = time.monotonic() + min(float(op.retry_after), 5.0)
        return op, body

    def take_pair(self, op: Op, body: Any, *, rotated: str | None = None) -> None:
        """Adopt a new pair; ``rotated`` is the refresh token it replaces (kept for replays)."""
        if op.status == 200 and isinstance(body, dict):
            self.rotated = [*self.rotated[-(ROTATED_KEPT - 1) :], rotated] if rotated else []
            self.access, self.refresh_token = body.get("access_token"), body.get("refresh_token")
            self.note_pair(op, body)

    def note_pair(self, op: Op, body: Any) -> None:
        """Record which pair an exchange handed out (``protocol.received``), without adopting it."""
        names = self.claims
        if op.status == 200 and isinstance(body, dict):
            op.update(protocol.received({}, body.get("refresh_token"), body.get("access_token"), names))

    def schedule_end_of_life(
        self, token: str | None, name: str, kind: str, before_s: float, *, probe: str | None = None
    ) -> None:
        """Present ``token`` (as ``name``) ``before_s`` before it stops being accepted (exp + leeway), and no later
        than ``DUE_SLACK_S`` after that; a token without an exp, or a full list, is not scheduled."""
        exp = protocol.peek(token, self.claims).get("exp") if token else None
        if token is None or not isinstance(exp, int | float) or len(self.due) >= DUE_KEPT:
            return
        due = time.monotonic() + (float(exp) + self.leeway_s - before_s - time.time())
        self.due.append(Due(due, due + min(DUE_SLACK_S, before_s / 2), name, kind, token, probe))

    def schedule_in(self, token: str, name: str, kind: str, after_s: float) -> None:
        """Present ``token`` (as ``name``) ``after_s`` from now, and no later than ``DUE_SLACK_S`` after that."""
        if len(self.due) < DUE_KEPT:
            due = time.monotonic() + after_s
            self.due.append(Due(due, due + DUE_SLACK_S, name, kind, token, None))

    def expires_within(self, token: str | None, seconds: float) -> bool:
        exp = protocol.peek(token, self.claims).get("exp") if token else None
        return isinstance(exp, int | float) and float(exp) - time.time() < seconds

    def forget_session(self) -> None:
        self.access = self.refresh_token = None
        self.rotated = []

    def remember_revoked(self, kind: str, token: str | None) -> None:
        """Keep a token whose revocation was acknowledged, to present it again later (``recheck_revoked``)."""
        if token:
            self.revoked = [*self.revoked[-(REVOKED_KEPT - 1) :], (kind, token)]
            if len(self.revoked_early) < EARLY_REVOKED_KEPT:
                self.revoked_early.append((kind, token))

    async def present(self, name: str, kind: str, token: str | None, *, probe: str | None = None) -> Op:
        """Present ``token`` where a token of ``kind`` goes: a probe is ``ok`` only when it is rejected (401)."""
        if kind == "refresh":
            op, _ = await self.send(name, "refresh", token=token, refresh=token)
        else:
            op, _ = await self.send(name, "me", token=token, access=token)
        if probe is not None:
            op.probe = probe
            op.outcome = "ok" if op.status == 401 else ("unknown" if op.status is None else "fail")
        return op
