"""Locust load for the reference auth service. Use it directly:

    locust -f scenarios/load/locustfile.py -H http://127.0.0.1:8000

or through ``authchaos load``, which adds faults on a timeline, SLO gates and correctness checks.

Users behave like real clients:
  RefreshUser    logs in once, refreshes every few seconds with its newest refresh token (a reuse error
                 is a failure), logs in again only when its session is really gone;
  BlacklistUser  an admin: mints access tokens, batch-blacklists them (1 / 100 / 1,000 / 10,000),
                 then checks one of them is rejected;
  ApiUser        calls GET /auth/me.

Every request becomes one history row through ``authchaos.record.protocol.row``, exactly as the scenario
client writes them, and tokens are minted with ``authchaos.record.token_keys`` (kid and typ included).

Environment (all optional): AUTHCHAOS_LOAD_WEIGHTS ("refresh=3,blacklist=1,api=6"),
AUTHCHAOS_LOAD_PROFILE (smoke | ramp | soak | spike: a LoadTestShape; unset: -u/-r/-t as usual),
AUTHCHAOS_LOAD_REFRESH_EVERY_S (cadence, default 2), AUTHCHAOS_LOAD_REPLAY_RATIO (share of refreshes that
replay the previous token instead, default 0.05), AUTHCHAOS_LOAD_BATCH_SIZES ("1,100,1000,10000"),
AUTHCHAOS_LOAD_HISTORY_DIR (write every request to JSONL there, for authchaos' checks),
AUTHCHAOS_JWT_ACCESS_SECRET / _REFRESH_SECRET (and _ACCESS_KID) to mint tokens for BlacklistUser,
which is left out without them.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import LoadTestShape, between, events, task
from locust.contrib.fasthttp import FastHttpUser

from authchaos.record import protocol
from authchaos.record.exchange import build_request, reading
from authchaos.record.service_contract import load_contract
from authchaos.record.token_keys import TokenKeys, mint

KEYS = TokenKeys.from_env()
# The service's contract (AUTHCHAOS_CONTRACT, a file; the reference service's own when unset): where each
# operation goes and how its answers read, exactly as the scenario client uses it.
CONTRACT = load_contract(Path(os.environ["AUTHCHAOS_CONTRACT"]) if os.environ.get("AUTHCHAOS_CONTRACT") else None)
CLAIMS: protocol.ClaimNames = CONTRACT.claims.names
if os.environ.get("AUTHCHAOS_LOAD_SEED"):  # authchaos load --seed: the same choices in the same order
    random.seed(int(os.environ["AUTHCHAOS_LOAD_SEED"]))
BATCH_SIZES = [int(x) for x in os.environ.get("AUTHCHAOS_LOAD_BATCH_SIZES", "1,100,1000,10000").split(",")]
REFRESH_EVERY_S = float(os.environ.get("AUTHCHAOS_LOAD_REFRESH_EVERY_S", "2"))
REPLAY_RATIO = float(os.environ.get("AUTHCHAOS_LOAD_REPLAY_RATIO", "0.05"))
_WEIGHTS_SPEC = os.environ.get("AUTHCHAOS_LOAD_WEIGHTS", "refresh=3,blacklist=1,api=6")
WEIGHTS = {k.strip(): int(v) for k, v in (p.split("=") for p in _WEIGHTS_SPEC.split(","))}
_ids = itertools.count(1)


class HistoryWriter:
    """Every request as one JSON line (monotonic ns, same clock as the harness' fault windows)."""

    def __init__(self) -> None:
        folder = os.environ.get("AUTHCHAOS_LOAD_HISTORY_DIR")
        self.file = open(os.path.join(folder, f"history-{os.getpid()}.jsonl"), "a") if folder else None  # noqa: SIM115

    def write(self, row: dict[str, Any]) -> None:
        if self.file is not None:
            row["worker"] = os.getpid()
            self.file.write(json.dumps(row, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


HISTORY = HistoryWriter()


@events.quitting.add_listener
def _close_history(environment: Any, **_: Any) -> None:
    HISTORY.close()
    max_fail = os.environ.get("AUTHCHAOS_LOAD_MAX_FAIL_RATIO")
    if max_fail is not None and environment.stats.total.fail_ratio > float(max_fail):
        environment.process_exit_code = 1


def _path(operation: str) -> str:
    spec = CONTRACT.operation(operation)
    return spec.path if spec else f"({operation}: not declared)"


class AuthUser(FastHttpUser):
    abstract = True
    username, password = CONTRACT.users.user.username, CONTRACT.users.user.password

    def on_start(self) -> None:
        self.uid = next(_ids) * 1000 + os.getpid() % 1000
        self.access: str | None = None
        self.refresh_token: str | None = None
        self.login()

    def call(
        self,
        op: str,
        operation: str,
        *,
        name: str | None = None,
        token: str | None = None,
        expect: tuple[int, ...] = (200,),
        **args: Any,
    ) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """One contract operation: Locust counts it, and ``protocol.row`` makes its history row."""
        spec = CONTRACT.operation(operation)
        assert spec is not None, f"the contract declares no {operation}"
        req = build_request(spec, args, username=self.username)
        kw = req.options()
        start = time.monotonic_ns()
        with self.client.request(req.method, req.path, name=name or req.path, catch_response=True, **kw) as r:
            row, body = protocol.row_from_response(
                op,
                self.uid,
                start,
                time.monotonic_ns(),
                token=token,
                status=r.status_code or None,
                headers=dict(r.headers or {}),
                text=r.text,
                error=getattr(r, "error", None),  # set when no answer
                reading=reading(CONTRACT, spec),
            )
            if row["status"] in expect:
                r.success()
            else:
                r.failure(f"{row['status'] or 0} {row.get('error') or ''} {row.get('message') or ''}".strip())
        return row["status"] or 0, body if isinstance(body, dict) else {}, row

    def login(self) -> None:
        status, body, row = self.call("login", "login", username=self.username, password=self.password)
        if status == 200:
            self.access, self.refresh_token = body["access_token"], body["refresh_token"]
            protocol.received(row, self.refresh_token, self.access, CLAIMS)
        HISTORY.write(row)


class RefreshUser(AuthUser):
    """Refreshes with its newest token; now and then (AUTHCHAOS_LOAD_REPLAY_RATIO) replays the one before, as a
    thief would, and then presents the successor and its access token: after reuse all must be rejected."""

    weight = WEIGHTS.get("refresh", 3)
    wait_time = between(REFRESH_EVERY_S * 0.5, REFRESH_EVERY_S * 1.5)
    previous: str | None = None

    @task
    def refresh(self) -> None:
        if self.refresh_token is None:
            self.login()
            return
        if self.previous is not None and random.random() < REPLAY_RATIO:
            self.replay(self.previous)
            return
        token = self.refresh_token
        status, body, row = self.call("refresh", "refresh", token=token, refresh=token)
        if status == 200:
            self.access, self.refresh_token, self.previous = body["access_token"], body["refresh_token"], token
            protocol.received(row, self.refresh_token, self.access, CLAIMS)
        elif status == 401:
            self.access = self.refresh_token = self.previous = None  # session gone (a reuse error is a failure)
        HISTORY.write(row)

    def probe(self, op: str, operation: str, token: str | None, probe: str) -> None:
        """Present a token the service must reject where its kind goes: a 401 is this request's success."""
        arg = {"refresh": token} if operation == "refresh" else {"access": token}
        name = f"{_path(operation)} [{probe}]"
        _, _, row = self.call(op, operation, name=name, token=token, expect=(401,), **arg)
        row["probe"] = probe
        row["outcome"] = "ok" if row["status"] == 401 else ("unknown" if row["status"] is None else "fail")
        HISTORY.write(row)

    def replay(self, rotated: str) -> None:
        successor, access = self.refresh_token, self.access
        self.previous = self.access = self.refresh_token = None  # whatever happens, this session is spent
        self.probe("replay", "refresh", rotated, "replayed")
        self.probe("refresh", "refresh", successor, "after_reuse")
        self.probe("me", "me", access, "after_reuse")


class ApiUser(AuthUser):
    weight = WEIGHTS.get("api", 6)
    wait_time = between(0.05, 0.3)

    @task
    def me(self) -> None:
        if self.access is None:
            self.login()
            return
        status, _, row = self.call("me", "me", token=self.access, access=self.access)
        if status == 401:
            self.access = None
        HISTORY.write(row)


class BlacklistUser(AuthUser):
    weight = WEIGHTS.get("blacklist", 1) if KEYS is not None and CONTRACT.users.admin is not None else 0
    wait_time = between(0.5, 2)
    if CONTRACT.users.admin is not None:
        username, password = CONTRACT.users.admin.username, CONTRACT.users.admin.password

    def mint(self, n: int) -> list[str]:
        assert KEYS is not None
        sub = CONTRACT.users.user.username
        return [
            mint(
                KEYS,
                "access",
                {"sub": sub, "tokenId": f"ld-{self.uid}-{random.getrandbits(64):x}"},
                ttl_s=600,
                names=CLAIMS,
            )
            for _ in range(n)
        ]

    @task
    def blacklist(self) -> None:
        if self.access is None:
            self.login()
            return
        size = random.choice(BATCH_SIZES)
        tokens = self.mint(size)
        name = f"{_path('blacklist')} [{size}]"
        status, _, row = self.call(
            "blacklist_batch", "blacklist", name=name, token=self.access, access=self.access, tokens=tokens
        )
        if status == 200:
            row["revoked_ids"] = [
                protocol.peek(t, CLAIMS)["tokenId"] for t in tokens[:50]
            ]  # a sample keeps the history small
        HISTORY.write(row)
        if status == 200:
            victim = tokens[0]
            name = f"{_path('me')} [revoked]"
            _, _, probe = self.call("me", "me", name=name, token=victim, expect=(401,), access=victim)
            probe["probe"] = "revoked"
            probe["outcome"] = "ok" if probe.get("status") == 401 else "fail"  # a rejection is the success here
            HISTORY.write(probe)


CAPACITY_NAMES = {"me": ("GET", _path("me")), "refresh": ("POST", _path("refresh"))}


def _broke(entry: Any, bound: dict[str, float | None]) -> bool:
    if entry is None or not entry.num_requests:
        return False
    rps = entry.current_rps or 0
    failing = (entry.current_fail_per_sec or 0) / rps if rps else 0.0
    p95, ratio = bound.get("p95_ms"), bound.get("max_error_ratio")
    slow = p95 is not None and (entry.get_current_response_time_percentile(0.95) or 0) > p95
    return slow or (ratio is not None and failing > ratio)


def _step_broke() -> bool:
    """Did every judged endpoint break its bound lately? (Locust's sliding window, a coarse stop rule only:
    the harness judges each step exactly from the history.)"""
    env = ENVIRONMENT
    bounds = json.loads(os.environ.get("AUTHCHAOS_CAPACITY_SLO", "{}"))
    if env is None or env.runner is None or not bounds:
        return False
    stats = env.runner.stats
    return all(
        _broke(stats.entries.get((CAPACITY_NAMES[op][1], CAPACITY_NAMES[op][0])), bound)
        for op, bound in bounds.items()
        if op in CAPACITY_NAMES
    )


ENVIRONMENT: Any = None  # Locust's Environment, for the capacity shape's stop rule


@events.init.add_listener
def _keep_environment(environment: Any, **_: Any) -> None:
    globals()["ENVIRONMENT"] = environment


if os.environ.get("AUTHCHAOS_LOAD_PROFILE"):

    class ProfileShape(LoadTestShape):
        """Stages of the chosen profile; AUTHCHAOS_LOAD_SCALE stretches time (for short CI runs).

        The capacity profile marks when each step starts (monotonic ns, the history's clock) and stops after
        the first step that broke its bound."""

        profile = os.environ["AUTHCHAOS_LOAD_PROFILE"]
        stages = protocol.LOAD_PROFILES[profile]
        scale = float(os.environ.get("AUTHCHAOS_LOAD_SCALE", "1"))
        step = -1

        def tick(self) -> tuple[int, float] | None:
            t = self.get_run_time()
            for index, (until, users, rate) in enumerate(self.stages):
                if t < until * self.scale:
                    if index != self.step and self.profile == "capacity" and not self._next_step(index, users):
                        return None
                    self.step = index
                    return users, rate
            return None

        def _next_step(self, index: int, users: int) -> bool:
            if index > 0 and _step_broke():
                return False
            folder = os.environ.get("AUTHCHAOS_LOAD_HISTORY_DIR")
            if folder:
                with open(os.path.join(folder, protocol.CAPACITY_STEPS_FILE), "a") as marks:
                    marks.write(json.dumps({"users": users, "start_ns": time.monotonic_ns()}) + "\n")
            return True
