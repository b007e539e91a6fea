"""`authchaos contract check`: each declaration of a contract tried once against a running service.

Before a team gates its service, this says which line of its contract is wrong: a path that answers 404,
tokens that are not where the contract says, an error code the contract does not list. Each step is one
operation with the expected outcome; the service's healthy Redis is assumed (no faults here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from authchaos.record.exchange import build_request, read_answer
from authchaos.record.protocol import parse_body
from authchaos.record.service_contract import ServiceContract


@dataclass
class Step:
    operation: str
    what: str
    expected: str
    got: str = ""
    ok: bool = False
    skipped: str | None = None  # why it was not tried (absent operation, an earlier step failed)


@dataclass
class Said:
    status: int
    body: Any
    undeclared: str | None


class Prober:
    def __init__(self, http: httpx.Client, contract: ServiceContract) -> None:
        self.http = http
        self.contract = contract

    def send(self, operation: str, **args: Any) -> Said | None:
        spec = self.contract.operation(operation)
        if spec is None:
            return None
        req = build_request(spec, args, username=self.contract.users.user.username)
        r = self.http.request(req.method, req.path, **req.options())
        answer = read_answer(self.contract, spec, r.status_code, parse_body(r.text), r.headers)
        return Said(r.status_code, answer.body, answer.undeclared)


def _describe(said: Said) -> str:
    if said.undeclared:
        return said.undeclared
    if said.status >= 400 and isinstance(said.body, dict):
        return f"{said.status} {said.body.get('error')}"
    return str(said.status)


def _expect_ok(step: Step, said: Said | None, *, pair: bool = False) -> dict[str, Any] | None:
    if said is None:
        step.skipped = f"the contract declares no {step.operation}"
        return None
    step.got = _describe(said)
    body = said.body if isinstance(said.body, dict) else {}
    step.ok = 200 <= said.status < 300 and not said.undeclared and (not pair or "access_token" in body)
    return body if step.ok else None


def _expect_error(step: Step, said: Said | None, canonical: str) -> None:
    if said is None:
        step.skipped = f"the contract declares no {step.operation}"
        return
    step.got = _describe(said)
    step.ok = said.status >= 400 and not said.undeclared and isinstance(said.body, dict)
    step.ok = step.ok and said.body.get("error") == canonical


def _session_steps(p: Prober, steps: list[Step]) -> dict[str, Any] | None:
    user = p.contract.users.user
    steps.append(Step("health", "the health operation", "2xx"))
    _expect_ok(steps[-1], p.send("health"))
    steps.append(Step("login", f"log in as {user.username}", "2xx with both tokens where declared"))
    pair = _expect_ok(steps[-1], p.send("login", username=user.username, password=user.password), pair=True)
    steps.append(Step("login", "a wrong password", "an error the contract names invalid_credentials"))
    _expect_error(
        steps[-1], p.send("login", username=user.username, password="not-" + user.password), "invalid_credentials"
    )
    steps.append(Step("me", "a token that is no JWT", "an error the contract names invalid_token"))
    _expect_error(steps[-1], p.send("me", access="not-a-token"), "invalid_token")
    if pair is None:
        return None
    steps.append(Step("me", "the access token from login", "2xx"))
    _expect_ok(steps[-1], p.send("me", access=pair["access_token"]))
    steps.append(Step("refresh", "the refresh token from login", "2xx with both tokens where declared"))
    return _expect_ok(steps[-1], p.send("refresh", refresh=pair["refresh_token"]), pair=True) or pair


def _revocation_steps(p: Prober, steps: list[Step], pair: dict[str, Any]) -> None:
    steps.append(Step("logout", "log out that session", "2xx"))
    if _expect_ok(steps[-1], p.send("logout", access=pair["access_token"], refresh=pair["refresh_token"])) is not None:
        steps.append(Step("me", "the logged-out access token", "an error the contract names token_revoked"))
        _expect_error(steps[-1], p.send("me", access=pair["access_token"]), "token_revoked")
    user = p.contract.users.user
    fresh = p.send("login", username=user.username, password=user.password)
    if fresh is not None and isinstance(fresh.body, dict) and "access_token" in fresh.body:
        steps.append(Step("logout_all", "log out every session of the user", "2xx"))
        _expect_ok(steps[-1], p.send("logout_all", access=fresh.body["access_token"]))
        steps.append(Step("blacklist", "blacklist as a non-admin", "an error the contract names forbidden"))
        again = p.send("login", username=user.username, password=user.password)
        token = again.body.get("access_token") if again and isinstance(again.body, dict) else None
        _expect_error(steps[-1], p.send("blacklist", access=token, tokens=[token]), "forbidden")
    admin = p.contract.users.admin
    if admin is not None:
        steps.append(Step("blacklist", f"log in as the admin {admin.username}, blacklist a token", "2xx"))
        said = p.send("login", username=admin.username, password=admin.password)
        token = said.body.get("access_token") if said and isinstance(said.body, dict) else None
        _expect_ok(steps[-1], p.send("blacklist", access=token, tokens=[pair["refresh_token"]]) if token else None)


def _oauth_steps(p: Prober, steps: list[Step]) -> None:
    steps.append(Step("oauth_callback", "the OAuth callback for the user", "2xx with both tokens where declared"))
    _expect_ok(steps[-1], p.send("oauth_callback", username=p.contract.users.user.username), pair=True)


def check_contract(contract: ServiceContract, target: str, timeout_s: float = 10.0) -> list[Step]:
    """Every declared operation tried once, in an order that needs no more than the contract's users."""
    steps: list[Step] = []
    with httpx.Client(base_url=target, timeout=timeout_s) as http:
        p = Prober(http, contract)
        pair = _session_steps(p, steps)
        if pair is not None:
            _revocation_steps(p, steps, pair)
        _oauth_steps(p, steps)
    declared = set(contract.declared())
    for name in sorted(declared - {s.operation for s in steps}):
        steps.append(Step(name, "not tried: an earlier step it needs failed", "-", skipped="an earlier step failed"))
    return steps
