"""Locust load for the reference auth service. Use it directly:

    locust -f scenarios/load/locustfile.py -H http://127.0.0.1:8000

or through ``authchaos load``, which adds faults on a timeline, SLO gates and correctness checks.

Users behave like real clients:
  RefreshUser    logs in once, refreshes every few seconds with its newest refresh token (a reuse error
                 is a failure), logs in again only when its session is really gone;
  BlacklistUser  an admin: mints access tokens, batch-blacklists them (1 / 100 / 1,000 / 10,000),
                 then checks one of them is rejected;
  ApiUser        calls GET /auth/me.

Environment (all optional): AUTHCHAOS_LOAD_WEIGHTS ("refresh=3,blacklist=1,api=6"),
AUTHCHAOS_LOAD_PROFILE (smoke | ramp | soak | spike: a LoadTestShape; unset: -u/-r/-t as usual),
AUTHCHAOS_LOAD_REFRESH_EVERY_S (cadence, default 2), AUTHCHAOS_LOAD_BATCH_SIZES ("1,100,1000,10000"),
AUTHCHAOS_LOAD_HISTORY_DIR (write every request to JSONL there, for authchaos' checks),
AUTHCHAOS_JWT_ACCESS_SECRET (to mint tokens for BlacklistUser; the development key otherwise).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

import jwt
from locust import LoadTestShape, between, events, task
from locust.contrib.fasthttp import FastHttpUser

ISSUER = os.environ.get("AUTHCHAOS_ISSUER", "authchaos")
AUDIENCE = os.environ.get("AUTHCHAOS_AUDIENCE", "authchaos-api")
ACCESS_SECRET = os.environ.get("AUTHCHAOS_JWT_ACCESS_SECRET") or "authchaos-dev-access-secret-do-not-use-in-production"
BATCH_SIZES = [int(x) for x in os.environ.get("AUTHCHAOS_LOAD_BATCH_SIZES", "1,100,1000,10000").split(",")]
REFRESH_EVERY_S = float(os.environ.get("AUTHCHAOS_LOAD_REFRESH_EVERY_S", "2"))
WEIGHTS = dict(
    (k.strip(), int(v))
    for k, v in (
        p.split("=") for p in os.environ.get("AUTHCHAOS_LOAD_WEIGHTS", "refresh=3,blacklist=1,api=6").split(",")
    )
)
_ids = itertools.count(1)


class History:
    """Every request as one JSON line (monotonic ns, same clock as the harness' fault windows)."""

    def __init__(self) -> None:
        folder = os.environ.get("AUTHCHAOS_LOAD_HISTORY_DIR")
        self.file = open(os.path.join(folder, f"history-{os.getpid()}.jsonl"), "a") if folder else None  # noqa: SIM115

    def record(self, **fields: Any) -> None:
        if self.file is not None:
            fields["worker"] = os.getpid()
            self.file.write(json.dumps(fields, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


HISTORY = History()


@events.quitting.add_listener
def _close_history(environment: Any, **_: Any) -> None:
    HISTORY.close()
    max_fail = os.environ.get("AUTHCHAOS_LOAD_MAX_FAIL_RATIO")
    if max_fail is not None and environment.stats.total.fail_ratio > float(max_fail):
        environment.process_exit_code = 1


def claims(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.InvalidTokenError:
        return {}


class AuthUser(FastHttpUser):
    abstract = True
    username, password = "alice", "wonderland"

    def on_start(self) -> None:
        self.uid = next(_ids) * 1000 + os.getpid() % 1000
        self.access: str | None = None
        self.refresh_token: str | None = None
        self.login()

    def call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        name: str,
        token: str | None = None,
        expect: tuple[int, ...] = (200,),
        **kw: Any,
    ) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """One request: Locust counts it, and the history records it for the correctness checks."""
        c = claims(token)
        record: dict[str, Any] = {"op": op, "client": self.uid, "start_ns": time.monotonic_ns(),
                                  "token_id": c.get("tokenId"), "family": c.get("family")}  # fmt: skip
        with self.client.request(method, path, name=name, catch_response=True, **kw) as r:
            record["end_ns"] = time.monotonic_ns()
            status = r.status_code or 0
            try:
                body = r.json() if r.text else {}
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            headers = {k.lower(): v for k, v in (r.headers or {}).items()}
            record |= {"status": status or None, "degraded": "x-auth-degraded" in headers,
                       "retry_after": headers.get("retry-after")}  # fmt: skip
            if status >= 400:
                record |= {"error": body.get("error"), "message": body.get("message")}
            if status in expect:
                r.success()
            else:
                r.failure(f"{status} {body.get('error', '')} {body.get('message', '')}".strip() or "no response")
            record["outcome"] = "ok" if 200 <= status < 300 else ("unknown" if not status else "fail")
        return status, body, record

    def login(self) -> None:
        status, body, rec = self.call("login", "POST", "/auth/login", name="/auth/login",
                                      json={"username": self.username, "password": self.password})  # fmt: skip
        if status == 200:
            self.access, self.refresh_token = body["access_token"], body["refresh_token"]
            rec["new_token_id"] = claims(self.refresh_token).get("tokenId")
        HISTORY.record(**rec)


class RefreshUser(AuthUser):
    weight = WEIGHTS.get("refresh", 3)
    wait_time = between(REFRESH_EVERY_S * 0.5, REFRESH_EVERY_S * 1.5)

    @task
    def refresh(self) -> None:
        if self.refresh_token is None:
            self.login()
            return
        token = self.refresh_token
        status, body, rec = self.call("refresh", "POST", "/auth/refresh", name="/auth/refresh", token=token,
                                      json={"refresh_token": token})  # fmt: skip
        if status == 200:
            self.access, self.refresh_token = body["access_token"], body["refresh_token"]
            rec["new_token_id"] = claims(self.refresh_token).get("tokenId")
        elif status == 401:
            self.access = self.refresh_token = None  # session gone (a reuse error is already a failure)
        HISTORY.record(**rec)


class ApiUser(AuthUser):
    weight = WEIGHTS.get("api", 6)
    wait_time = between(0.05, 0.3)

    @task
    def me(self) -> None:
        if self.access is None:
            self.login()
            return
        status, _, rec = self.call("me", "GET", "/auth/me", name="/auth/me", token=self.access,
                                   headers={"Authorization": f"Bearer {self.access}"})  # fmt: skip
        if status == 401:
            self.access = None
        HISTORY.record(**rec)


class BlacklistUser(AuthUser):
    weight = WEIGHTS.get("blacklist", 1)
    wait_time = between(0.5, 2)
    username, password = "admin", "admin-secret"

    def mint(self, n: int) -> list[str]:
        now = int(time.time())
        return [
            jwt.encode({"sub": "alice", "tokenId": f"ld-{self.uid}-{random.getrandbits(64):x}", "type": "access",
                        "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}, ACCESS_SECRET, "HS256")
            for _ in range(n)
        ]  # fmt: skip

    @task
    def blacklist(self) -> None:
        if self.access is None:
            self.login()
            return
        size = random.choice(BATCH_SIZES)
        tokens = self.mint(size)
        status, _, rec = self.call("blacklist_batch", "POST", "/auth/blacklist", name=f"/auth/blacklist [{size}]",
                                   token=self.access, headers={"Authorization": f"Bearer {self.access}"},
                                   json={"tokens": tokens})  # fmt: skip
        if status == 200:
            rec["revoked_ids"] = [claims(t)["tokenId"] for t in tokens[:50]]  # a sample keeps the history small
        HISTORY.record(**rec)
        if status == 200:
            victim = tokens[0]
            _, _, probe = self.call("me", "GET", "/auth/me", name="/auth/me [revoked]", token=victim, expect=(401,),
                                    headers={"Authorization": f"Bearer {victim}"})  # fmt: skip
            probe["probe"] = "revoked"
            probe["outcome"] = "ok" if probe.get("status") == 401 else "fail"  # a rejection is the success here
            HISTORY.record(**probe)


PROFILES: dict[str, list[tuple[float, int, float]]] = {
    # (until second, users, spawn rate)
    "smoke": [(20, 10, 10)],
    "ramp": [(20, 10, 5), (40, 30, 5), (60, 60, 5)],
    "soak": [(600, 30, 5)],
    "spike": [(10, 10, 10), (20, 80, 80), (35, 10, 80)],
}

if os.environ.get("AUTHCHAOS_LOAD_PROFILE"):

    class ProfileShape(LoadTestShape):
        """Stages of the chosen profile; AUTHCHAOS_LOAD_SCALE stretches time (for short CI runs)."""

        stages = PROFILES[os.environ["AUTHCHAOS_LOAD_PROFILE"]]
        scale = float(os.environ.get("AUTHCHAOS_LOAD_SCALE", "1"))

        def tick(self) -> tuple[int, float] | None:
            t = self.get_run_time()
            for until, users, rate in self.stages:
                if t < until * self.scale:
                    return users, rate
            return None
