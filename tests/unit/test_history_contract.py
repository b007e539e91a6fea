"""Both drivers write the same history row for the same exchange (issue: one history contract).

The scenario client goes through httpx (here a MockTransport replaying recorded answers); the
locustfile hands ``protocol.row_from_response`` the four things FastHttpUser's response carries
(status_code, headers, text, error). Same exchange, same row.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from authchaos.record import protocol
from authchaos.record.exchange import reading
from authchaos.record.history import History, Op
from authchaos.record.service_contract import load_contract
from authchaos.record.token_keys import TokenKeys, mint
from authchaos.workload.client import AuthClient

CONTRACT = load_contract()
REFRESH_SPEC = CONTRACT.operations.refresh
assert REFRESH_SPEC is not None

KEYS = TokenKeys("a" * 48, "r" * 48, "a-kid", "r-kid")
PRESENTED = mint(KEYS, "refresh", {"sub": "alice", "tokenId": "t-1", "family": "f-1"}, ttl_s=600)
ISSUED = mint(KEYS, "refresh", {"sub": "alice", "tokenId": "t-2", "family": "f-1"}, ttl_s=600)


@dataclass
class Recorded:
    """One exchange as it was seen on the wire: an answer, or the exception instead of one."""

    status: int = 0
    headers: dict[str, str] | None = None
    body: Any = None
    error: type[BaseException] | None = None

    @property
    def text(self) -> str | None:
        return None if self.body is None else json.dumps(self.body)


EXCHANGES = {
    "pair": Recorded(200, {"content-type": "application/json"}, {"access_token": "x", "refresh_token": ISSUED}),
    "reused": Recorded(401, {}, {"error": "token_reused", "message": "Refresh token was already used"}),
    "outage": Recorded(
        503,
        {"Retry-After": "1", "X-Auth-Degraded": "redis-unavailable"},
        {"error": "store_unavailable", "message": "Redis is unavailable"},
    ),
    "server_error": Recorded(500, {}, {"detail": "boom"}),
    "timeout": Recorded(error=httpx.ReadTimeout),
    "refused": Recorded(error=httpx.ConnectError),
}


def _scenario_client_row(ex: Recorded, op: str) -> dict[str, Any]:
    def answer(request: httpx.Request) -> httpx.Response:
        if ex.error is not None:
            raise ex.error("recorded", request=request)
        return httpx.Response(ex.status, headers=ex.headers, content=(ex.text or "").encode())

    async def go() -> Op:
        history = History(0)
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://sut") as http:
            client = AuthClient(7, http, history, random.Random(0), keys=KEYS, batch_sizes=[1], contract=CONTRACT)
            recorded, _ = await client.send(op, "refresh", token=PRESENTED, refresh=PRESENTED)
        return recorded

    return asyncio.run(go()).as_dict()


def _locust_row(ex: Recorded, op: str) -> dict[str, Any]:
    """What scenarios/load/locustfile.py's ``AuthUser.call`` builds from a FastHttpUser response."""
    error = ex.error("recorded") if ex.error is not None else None
    row, _ = protocol.row_from_response(
        op,
        7,
        0,
        0,
        token=PRESENTED,
        status=ex.status or None,
        headers=dict(ex.headers or {}),
        text=ex.text,
        error=error,
        reading=reading(CONTRACT, REFRESH_SPEC),
    )
    return Op.from_row(row, id=0).as_dict()


@pytest.mark.parametrize("name", sorted(EXCHANGES))
@pytest.mark.parametrize("op", ["refresh", "me"])
def test_both_drivers_write_the_same_row(name: str, op: str) -> None:
    ex = EXCHANGES[name]
    ours, locusts = _scenario_client_row(ex, op), _locust_row(ex, op)
    for row in (ours, locusts):
        row.pop("start_ns", None), row.pop("end_ns", None)
    assert ours == locusts
    assert ours["token_id"] == "t-1" and ours["family"] == "f-1"


def test_the_outcome_rule() -> None:
    assert _locust_row(EXCHANGES["timeout"], "refresh")["outcome"] == "unknown"  # a write may have landed
    assert _locust_row(EXCHANGES["timeout"], "me")["outcome"] == "fail"
    assert _locust_row(EXCHANGES["refused"], "refresh")["outcome"] == "fail"
    assert _locust_row(EXCHANGES["refused"], "refresh")["error"] == "service_unreachable"
    outage = _locust_row(EXCHANGES["outage"], "refresh")
    assert (outage["outcome"], outage["degraded"], outage["retry_after"]) == ("fail", True, "1")
    assert _locust_row(EXCHANGES["pair"], "refresh")["outcome"] == "ok"


def test_rows_round_trip_through_op() -> None:
    row, _ = protocol.row_from_response(
        "refresh", 3, 10, 20, token=PRESENTED, status=200, headers={}, text="{}", error=None
    )
    protocol.received(row, ISSUED)
    row |= {"revoked_ids": ["a"], "probe": "revoked", "worker": 123}
    op = Op.from_row(row, id=5)
    assert (op.id, op.client, op.start_ns, op.end_ns, op.new_token_id, op.new_family) == (5, 3, 10, 20, "t-2", "f-1")
    assert op.revoked_ids == ["a"] and op.probe == "revoked"
    assert Op.from_row(op.as_dict()) == op


def test_peek_never_raises_on_hostile_tokens() -> None:
    for token in ("", "a.b", "a.b.c", "a." + "W" * 5000 + ".c", "a.WwpbWw.c", None):
        assert protocol.peek(token) == {}
