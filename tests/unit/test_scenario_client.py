"""The simulated client, against a scripted service: what it records and how it reacts."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from authchaos.record import protocol
from authchaos.record.history import History
from authchaos.record.service_contract import load_contract
from authchaos.record.token_keys import TokenKeys, mint
from authchaos.workload.client import AuthClient, ServiceTimes
from authchaos.workload.operations import OPERATIONS, late_replay_due, run_operation

KEYS = TokenKeys("a" * 48, "r" * 48, "a-kid", "r-kid")


def pair(n: int, family: str = "f") -> dict[str, str]:
    return {
        "access_token": mint(KEYS, "access", {"sub": "alice", "tokenId": f"a{n}", "family": family}, ttl_s=60),
        "refresh_token": mint(KEYS, "refresh", {"sub": "alice", "tokenId": f"r{n}", "family": family}, ttl_s=60),
    }


def run(script: Callable[[httpx.Request], httpx.Response], *ops: str) -> tuple[AuthClient, History]:
    history = History(0)

    async def go() -> AuthClient:
        async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url="http://sut") as http:
            client = AuthClient(
                1, http, history, random.Random(1), keys=KEYS, batch_sizes=[3], contract=load_contract()
            )
            for op in ops:
                await run_operation(client, op)
            return client

    return asyncio.run(go()), history


def frozen_clock(monkeypatch: object) -> list[float]:
    """The operations' monotonic clock, set by the test: ``clock[0] += s`` lets ``s`` seconds pass."""
    import authchaos.workload.operations as operations

    clock = [1000.0]
    monkeypatch.setattr(operations.time, "monotonic", lambda: clock[0])  # type: ignore[attr-defined]
    return clock


def new_client(http: httpx.AsyncClient, history: History, **kw: Any) -> AuthClient:
    return AuthClient(1, http, history, random.Random(1), keys=KEYS, batch_sizes=[3], contract=load_contract(), **kw)


def json_response(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=json.dumps(body).encode())


def test_login_then_refresh_records_ids_and_rotates() -> None:
    answers = iter([pair(1), pair(2)])
    client, history = run(lambda r: json_response(200, next(answers)), "login", "refresh")
    login, refresh = history.ops
    assert (login.op, login.new_token_id, login.new_family) == ("login", "r1", "f")
    assert (refresh.op, refresh.token_id, refresh.new_token_id, refresh.outcome) == ("refresh", "r1", "r2", "ok")
    assert protocol.peek(client.refresh_token)["tokenId"] == "r2"
    assert [protocol.peek(t)["tokenId"] for t in client.rotated] == ["r1"]


def test_without_a_session_an_operation_logs_in_first() -> None:
    _, history = run(lambda r: json_response(200, pair(1)), "me")
    assert [o.op for o in history.ops] == ["login"]


def test_a_401_forgets_the_session() -> None:
    answers = iter([json_response(200, pair(1)), json_response(401, {"error": "token_revoked", "message": "m"})])
    client, history = run(lambda r: next(answers), "login", "me")
    assert client.access is None and client.refresh_token is None
    assert (history.ops[1].error, history.ops[1].message, history.ops[1].outcome) == ("token_revoked", "m", "fail")


def test_a_503_with_retry_after_makes_the_client_wait() -> None:
    answers = iter(
        [json_response(200, pair(1)), json_response(503, {"error": "store_unavailable"}, **{"Retry-After": "2"})]
    )
    client, history = run(lambda r: next(answers), "login", "refresh")
    assert client.wait_until > time.monotonic() + 1
    assert client.refresh_token is not None, "a 503 keeps the session"
    assert history.ops[1].retry_after == "2"


def test_a_timed_out_refresh_is_unknown_and_the_client_keeps_its_tokens() -> None:
    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == protocol.REFRESH:
            raise httpx.ReadTimeout("slow", request=request)
        return json_response(200, pair(1))

    client, history = run(script, "login", "refresh")
    assert (history.ops[1].outcome, history.ops[1].error) == ("unknown", "client_timeout")
    assert protocol.peek(client.refresh_token)["tokenId"] == "r1"


def test_logout_records_what_was_revoked_and_probes_it() -> None:
    answers = iter(
        [
            json_response(200, pair(1)),
            json_response(200, {"revoked": 1}),
            json_response(401, {"error": "token_revoked"}),
        ]
    )
    client, history = run(lambda r: next(answers), "login", "logout")
    logout, probe = history.ops[1:]
    assert (logout.revoked_ids, logout.revoked_families) == (["a1"], ["f"])
    assert (probe.op, probe.probe, probe.token_id, probe.outcome) == ("me", "revoked", "a1", "ok")
    assert client.access is None and [k for k, _ in client.revoked] == ["access", "refresh"]


def test_a_revoked_token_that_is_accepted_is_a_failed_probe() -> None:
    answers = iter([json_response(200, pair(1)), json_response(200, {"revoked": 1}), json_response(200, {"sub": "a"})])
    _, history = run(lambda r: next(answers), "login", "logout")
    assert history.ops[2].outcome == "fail"


def test_blacklist_mints_current_shape_tokens_and_records_them() -> None:
    seen: list[list[str]] = []

    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == protocol.BLACKLIST:
            seen.append(json.loads(request.content)["tokens"])
            return json_response(200, {"blacklisted": 3, "expired": 0, "invalid": 0})
        if request.url.path == protocol.ME:
            return json_response(401, {"error": "token_revoked"})
        return json_response(200, pair(1))

    _, history = run(script, "login", "blacklist_batch", "blacklist_batch")
    batch = next(o for o in history.ops if o.op == "blacklist_batch")
    assert len(seen) == 1 and len(seen[0]) == 3
    assert batch.revoked_ids == [protocol.peek(t)["tokenId"] for t in seen[0]]
    header = json.loads(base64.urlsafe_b64decode(seen[0][0].split(".")[0] + "=="))
    assert (header["kid"], header["typ"]) == ("a-kid", "at+jwt")
    assert history.ops[-1].probe == "revoked"


def test_family_recheck_keeps_access_tokens_revoked_through_their_family_and_presents_them_on_and_on() -> None:
    """Two sessions blacklisted by their refresh token; from then on every call presents both access tokens (whose
    own ids were never named) at /auth/me: each is a revoked probe, failed when accepted."""
    logins = iter(range(1, 20))
    answers: list[str] = []

    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == protocol.BLACKLIST:
            return json_response(200, {"blacklisted": 1, "expired": 0, "invalid": 0})
        if request.url.path == protocol.ME:
            answers.append(request.headers["authorization"])
            return json_response(200 if len(answers) == 3 else 401, {"error": "token_revoked"})
        n = next(logins)
        return json_response(200, pair(n, family=f"f{n}"))

    client, history = run(script, *["family_recheck"] * 7)  # login, admin login, blacklist, login, blacklist, 2x
    kept = [protocol.peek(t) for t in client.family_revoked]
    assert [(c["tokenId"], c["family"]) for c in kept] == [("a1", "f1"), ("a3", "f3")]
    blacklists = [o for o in history.ops if o.op == "blacklist_session"]
    assert [o.revoked_families for o in blacklists] == [["f1"], ["f3"]]
    probes = [o for o in history.ops if o.probe == "revoked"]
    assert [o.token_id for o in probes] == ["a1", "a3", "a1", "a3"]
    assert [o.outcome for o in probes] == ["ok", "ok", "fail", "ok"]


def test_revoked_set_aside_keeps_one_token_of_each_revoked_shape_then_presents_them_all() -> None:
    """A session blacklisted by its refresh token, a logout with the access token alone, a batch entry, a family
    revoked by reuse: six tokens set aside (access through its family, refresh through its family, access by id
    and family, access by id, the reused family's successor pair), then every call presents all six."""
    logins = iter(range(1, 20))
    batches: list[list[str]] = []
    refreshes = iter(["rotate", "replay", "revoked"])

    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == protocol.BLACKLIST:
            batches.append(json.loads(request.content)["tokens"])
            return json_response(200, {"blacklisted": 1, "expired": 0, "invalid": 0})
        if request.url.path == protocol.REFRESH:
            presented = protocol.peek(json.loads(request.content)["refresh_token"]).get("tokenId")
            step = next(refreshes) if presented == "r4" else "revoked"  # the session being reused: r4
            if step == "rotate":
                return json_response(200, pair(9, family="f4"))
            return json_response(401, {"error": "token_reused" if step == "replay" else "token_revoked"})
        if request.url.path == protocol.ME:
            return json_response(401, {"error": "token_revoked"})
        if request.url.path == protocol.LOGOUT:
            return json_response(200, {"revoked": 1})
        n = next(logins)
        return json_response(200, pair(n, family=f"f{n}"))

    # login, admin login + blacklist own session, login, logout (access alone), batch entry, login, refresh,
    # replay of the rotated token, present all
    client, history = run(script, *["revoked_set_aside"] * 10)
    steps = [o for o in history.ops if o.op != "recheck_revoked"]  # each call first presents what is aside
    assert [o.op for o in steps] == [
        "login",
        "login",
        "blacklist_session",
        "login",
        "logout",
        "blacklist_batch",
        "login",
        "refresh",
        "replay",
    ]
    shapes = [(kind, protocol.peek(t).get("tokenId")) for kind, t in client.set_aside]
    batch_id = protocol.peek(batches[1][0])["tokenId"]
    assert shapes == [
        ("access", "a1"),
        ("refresh", "r3"),
        ("access", "a3"),
        ("access", batch_id),
        ("refresh", "r9"),
        ("access", "a9"),
    ]
    replay = steps[8]
    assert (replay.error, replay.token_id, replay.probe) == ("token_reused", "r4", "replayed")
    logout = next(o for o in history.ops if o.op == "logout")
    assert (logout.revoked_ids, logout.revoked_families) == (["a3"], ["f3"])
    entry = [o for o in history.ops if o.op == "blacklist_batch"]
    assert [o.revoked_ids for o in entry] == [[batch_id]]
    last = history.ops[-6:]
    assert [(o.op, o.probe, o.outcome) for o in last] == [("recheck_revoked", "revoked", "ok")] * 6
    assert [o.token_id for o in last] == ["a1", "r3", "a3", batch_id, "r9", "a9"]


def test_late_replay_presents_the_immediate_predecessor_after_the_grace_window(monkeypatch: object) -> None:
    """Rotate once, leave the new pair unused (the session is set aside), and 0.25 s past the 2 s grace window
    present the old refresh token, before whatever the mix drew: a replay of the token that was rotated."""
    answers = iter([pair(1), pair(2, "f"), pair(3, "g"), {"error": "token_reused", "message": "m"}])

    def script(request: httpx.Request) -> httpx.Response:
        body = next(answers)
        return json_response(401 if "error" in body else 200, body)

    clock = frozen_clock(monkeypatch)
    history = History(0)

    async def go() -> AuthClient:
        async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url="http://sut") as http:
            client = new_client(http, history, times=ServiceTimes(reuse_grace_s=2.0))
            await run_operation(client, "late_replay")  # no session yet: logs in (r1)
            await run_operation(client, "late_replay")  # rotates r1 -> r2 and sets r2 aside
            assert client.late is not None and client.refresh_token is None
            await run_operation(client, "late_replay")  # too early for the replay; no session: logs in (r3)
            clock[0] += 2.2
            assert not late_replay_due(client)  # inside the grace window (2 s) and its 0.25 s margin
            clock[0] += 0.05
            await run_operation(client, "me")  # now due: r1 goes first, whatever the mix drew
            return client

    client = asyncio.run(go())
    ops = [(o.op, o.token_id, o.status, o.probe) for o in history.ops]
    assert ops[:2] == [("login", None, 200, None), ("refresh", "r1", 200, None)]
    assert ops[-1] == ("replay", "r1", 401, "replayed") and history.ops[-1].error == "token_reused"
    assert client.late is None


def test_every_registered_operation_runs_against_a_scripted_service() -> None:
    for name in OPERATIONS:
        _, history = run(lambda r: json_response(200, pair(1)), "login", name)
        assert history.ops, name


def test_held_session_sets_a_login_aside_and_refreshes_it_later_until_answered(monkeypatch: object) -> None:
    """A held session is logged in, left untouched, and refreshed 4 s later; no
    answer (the service is down) keeps it held for the next try, and an answer ends the hold."""
    answers: list[httpx.Response | Exception] = [
        json_response(200, pair(1, "h1")),
        json_response(200, pair(9, "own")),
        json_response(200, pair(2, "h2")),
        httpx.ConnectError("refused"),
        json_response(503, {"error": "store_unavailable", "message": "m"}),
        json_response(200, pair(3, "h1")),
    ]

    def script(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = frozen_clock(monkeypatch)
    history = History(0)

    async def go() -> AuthClient:
        async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url="http://sut") as http:
            client = new_client(http, history)
            await run_operation(client, "held_session")  # logs in h1, holds it
            await run_operation(client, "held_session")  # too soon for another hold: a plain login instead
            clock[0] += 1
            await run_operation(client, "held_session")  # too early to present h1: another login (h2), held too
            assert [protocol.peek(t)["family"] for t, _ in client.held] == ["h1", "h2"]
            assert protocol.peek(client.refresh_token)["family"] == "own"  # held sessions are never the client's
            clock[0] += 3
            for _ in range(3):  # no answer, then a 503: h1 stays held; then it refreshes
                await run_operation(client, "held_session")
            return client

    client = asyncio.run(go())
    ops = [(o.op, o.family or o.new_family, o.status) for o in history.ops]
    assert ops == [
        ("login", "h1", 200),
        ("login", "own", 200),
        ("login", "h2", 200),
        ("held_refresh", "h1", None),
        ("held_refresh", "h1", 503),
        ("held_refresh", "h1", 200),
    ]
    assert [protocol.peek(t)["family"] for t, _ in client.held] == ["h2"]
    assert protocol.peek(client.refresh_token)["tokenId"] == "r9"  # a held session stays a witness, never adopted


def _scripted(refreshes: list[int], throttle_after: int = 0) -> Callable[[httpx.Request], httpx.Response]:
    """Logins answer a new pair (an unknown account: 401 until ``throttle_after`` failures, then 429); refreshes
    answer the statuses given, in order; /auth/me answers 200."""
    failures: dict[str, int] = {}
    n = [0]

    def script(request: httpx.Request) -> httpx.Response:
        n[0] += 1
        if request.url.path == "/auth/login":
            user = json.loads(request.content)["username"]
            if user.startswith("nobody"):
                failures[user] = failures.get(user, 0) + 1
                if failures[user] > throttle_after:
                    return json_response(429, {"error": "login_throttled", "message": "m"}, **{"Retry-After": "3"})
                return json_response(401, {"error": "invalid_credentials", "message": "m"})
            return json_response(200, pair(n[0], f"s{n[0]}"))
        if request.url.path == "/auth/refresh":
            status = refreshes.pop(0)
            return json_response(
                status, pair(n[0], "s") if status == 200 else {"error": "token_expired", "message": "m"}
            )
        return json_response(200, {"sub": "alice"})

    return script


def test_outlive_session_rotates_a_second_session_until_past_its_absolute_end_then_presents_its_pair(
    monkeypatch: object,
) -> None:
    """A 4 s session (leeway 1 s): rotated every second while it surely lives (until 2.2 s before its end), then
    probed near its end (accepted, then refused: both right), and its newest pair presented 0.5 s after end +
    leeway, whatever the mix drew."""
    clock = frozen_clock(monkeypatch)
    history = History(0)

    async def go() -> AuthClient:
        script = _scripted([200, 200, 401, 200])
        async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url="http://sut") as http:
            client = new_client(http, history, times=ServiceTimes(leeway_s=1.0, session_max_s=4.0))
            await run_operation(client, "outlive_session")  # no session yet: the client's own login
            await run_operation(client, "outlive_session")  # the second session's login, at 1000
            for _ in range(3):  # 1001: a refresh; 1002 and 1003 (past 1001.8): near the end, then refused
                clock[0] += 1
                await run_operation(client, "me")
            clock[0] += 1  # 1004: nothing due until 1005.5
            await run_operation(client, "me")
            clock[0] += 1.5
            await run_operation(client, "me")
            return client

    client = asyncio.run(go())
    rows = [(o.op, o.status, o.probe) for o in history.ops]
    assert rows == [
        ("login", 200, None),
        ("login", 200, None),
        ("refresh", 200, None),
        ("session_ending", 200, "session_ending"),
        ("session_ending", 401, "session_ending"),
        ("me", 200, None),
        ("session_ended", 200, "session_ended"),  # the scripted service accepts it: a failed probe
        ("session_ended", 200, "session_ended"),
    ]
    assert history.ops[3].outcome == history.ops[4].outcome == "ok" and history.ops[6].outcome == "fail"
    assert client.outliving is None


def test_guess_password_spends_the_budget_then_guesses_inside_the_window_and_past_it(monkeypatch: object) -> None:
    """Budget 2, window 3 s: two 401s and a 429 at once, one more 1 s later (later ones would be within 1.5 s of the
    window's end) and one 0.5 s past the window, each sent when due whatever the mix drew; every row a probe of
    one unknown account of this client's own."""
    clock = frozen_clock(monkeypatch)
    history = History(0)

    async def go() -> AuthClient:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_scripted([], 2)), base_url="http://sut") as http:
            client = new_client(http, history, times=ServiceTimes(login_budget=2, login_window_s=3.0))
            await run_operation(client, "guess_password")
            clock[0] += 1
            await run_operation(client, "login")  # the guess due at +1 s goes first
            clock[0] += 2.6
            await run_operation(client, "login")  # and the one past the window (3.5 s)
            await run_operation(client, "login")
            return client

    client = asyncio.run(go())
    rows = [(o.op, o.status) for o in history.ops]
    assert rows == [("guess_login", 401), ("guess_login", 401)] + [("guess_login", 429)] * 2 + [
        ("guess_login", 429),  # the scripted service never ends its window: logins_throttled judges that
        ("login", 200),
    ]
    guesses = [o for o in history.ops if o.op == "guess_login"]
    assert len({o.user for o in guesses}) == 1 and all(o.probe == "guess" for o in guesses)
    assert str(guesses[0].user).startswith("nobody-1-") and client.later_guesses == []


def test_retire_account_changes_the_directory_then_presents_what_it_ended(monkeypatch: object) -> None:
    """A member and a staff account of this client log in and are used, the users file is rewritten (the member
    removed or disabled, the staff demoted), and after two reload intervals + 0.5 s everything the change ended is
    presented, whatever the mix drew. A client whose accounts are used up calls /auth/me instead."""
    from authchaos.workload.account_directory import AccountDirectory

    clock = frozen_clock(monkeypatch)
    history = History(0)
    directory = AccountDirectory.create(load_contract(), clients=2, per_client=1)
    try:

        async def go() -> None:
            async with httpx.AsyncClient(
                transport=httpx.MockTransport(_scripted([401, 200])), base_url="http://sut"
            ) as http:
                client = new_client(http, history, accounts=directory, times=ServiceTimes(users_reload_s=0.2))
                await run_operation(client, "retire_account")
                clock[0] += 0.85
                await run_operation(client, "me")  # not yet due (0.9 s)
                clock[0] += 0.1
                await run_operation(client, "me")  # due: presented first
                await run_operation(client, "retire_account")  # no accounts left: /auth/me

        asyncio.run(go())
        entries = {e["username"]: e for e in json.loads(directory.path.read_text())}
    finally:
        directory.remove_file()
    rows = [(o.op, o.probe) for o in history.ops]
    assert rows == [
        ("login", None),
        ("login", None),
        ("me", None),
        ("staff_blacklist", None),
        ("login", None),  # the /auth/me drawn at 0.85 s: no session of its own yet, so a login
        ("account_gone", "account_gone"),
        ("account_gone", "account_gone"),
        ("account_gone", "account_gone"),
        ("demoted", "demoted"),
        ("demoted", "demoted"),
        ("refresh", None),
        ("demoted", "demoted"),
        ("me", None),
    ]
    assert [o.user for o in history.ops[:2]] == ["member-1-0", "staff-1-0"]
    assert entries["staff-1-0"]["roles"] == ["user"] and "member-0-0" in entries
    assert "member-1-0" not in entries or entries["member-1-0"]["disabled"] is True
    assert entries["alice"]["roles"] == ["user"] and entries["admin"]["roles"] == ["admin"]
    assert not directory.path.parent.exists()


def test_an_operation_aimed_at_a_setting_the_service_never_gets_is_skipped_by_name() -> None:
    from authchaos.record.service_contract import load_contract as contract_at
    from authchaos.workload.generator import skipped_operations
    from authchaos.workload.workload_spec import Workload

    node = contract_at(Path(__file__).resolve().parents[2] / "examples" / "node-service" / "contract.yaml")
    mix = Workload(mix={"me": 1, "outlive_session": 1, "guess_password": 1, "retire_account": 1})
    skipped = skipped_operations(mix, node)
    assert skipped["outlive_session"] == ["AUTHCHAOS_SESSION_MAX_S passed on"]
    assert "AUTHCHAOS_LOGIN_CLIENT_WINDOW_S passed on" in skipped["guess_password"]
    assert skipped["retire_account"] == ["a users file the harness manages (service.accounts)"]
    assert "me" not in skipped
    assert skipped_operations(mix, load_contract(), directory=True) == {}


def cross_user_moves(
    cid: int, calls: int, *, keys: TokenKeys | None = KEYS, blacklist_status: Callable[[], int] = lambda: 403
) -> list[str]:
    """The move each of ``calls`` cross_user calls by client ``cid`` made, read from the rows it recorded."""
    history = History(0)
    logins = iter(range(1, 100))

    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == protocol.BLACKLIST:
            return json_response(blacklist_status(), {"error": "forbidden"})
        if request.url.path.startswith(protocol.LOGOUT):
            return json_response(200, {"revoked": 1})
        return json_response(200, pair(next(logins)))  # logins and refreshes

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url="http://sut") as http:
            client = AuthClient(
                cid, http, history, random.Random(cid), keys=keys, batch_sizes=[3], contract=load_contract()
            )
            for _ in range(calls):
                if client.access is None:  # a logout (of either kind) ended this user's own session
                    await run_operation(client, "login")
                mark = len(history.ops)
                await run_operation(client, "cross_user")
                rows = history.ops[mark:]
                probes = [o.probe for o in rows if o.probe in ("foreign_subject", "not_admin")]
                kinds = [o.op for o in rows if o.op in ("logout", "logout_all")]
                moves.append((probes + kinds)[0])
                assert rows[-1].op == "owner_refresh"  # the victim refreshes after every move, the first too

    moves: list[str] = []
    asyncio.run(go())
    return moves


def test_cross_user_makes_its_moves_in_turn_so_every_move_is_made_on_the_first_calls_whatever_the_seed() -> None:
    """Drawn moves left a mutant alive when no client happened to draw the one that showed it; in turn, from a
    start that differs per client, four clients make all four moves on their first call, the admin's login
    included; without the service's key, three clients make the other three."""
    first = [cross_user_moves(cid, 1)[0] for cid in range(4)]
    assert sorted(first) == ["foreign_subject", "logout", "logout_all", "not_admin"]
    assert cross_user_moves(0, 5) == ["foreign_subject", "logout", "logout_all", "not_admin", "foreign_subject"]
    keyless = [cross_user_moves(cid, 1, keys=None)[0] for cid in range(3)]
    assert sorted(keyless) == ["logout", "logout_all", "not_admin"]
    assert cross_user_moves(0, 4, keys=None) == ["logout", "logout_all", "not_admin", "logout"]


def test_a_cross_user_move_the_service_did_not_judge_is_made_again() -> None:
    """A non-admin blacklist refused with 401 (this user's own access token had ended) never reached the role
    check: the client makes that move again next call instead of moving on."""
    answers = iter([401, 403])
    assert cross_user_moves(3, 3, blacklist_status=lambda: next(answers)) == [
        "not_admin",
        "not_admin",
        "foreign_subject",
    ]


def test_cross_user_makes_no_move_on_a_stale_admin_session_whose_renewal_failed() -> None:
    """The admin's access token is about to expire and its login again gets 503: no move, no owner refresh (an
    expired victim token refused would read as a session lost)."""
    history = History(0)
    stale = {
        "access_token": mint(KEYS, "access", {"sub": "admin", "tokenId": "a0", "family": "g"}, ttl_s=0),
        "refresh_token": mint(KEYS, "refresh", {"sub": "admin", "tokenId": "r0", "family": "g"}, ttl_s=0),
    }

    def script(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if request.url.path == protocol.LOGIN and body.get("username") == "admin":
            return json_response(503, {"error": "store_unavailable"}, **{"Retry-After": "0"})
        return json_response(200, pair(1))

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url="http://sut") as http:
            client = new_client(http, history)
            client.admin_access, client.admin_refresh = stale["access_token"], stale["refresh_token"]
            await run_operation(client, "login")
            await run_operation(client, "cross_user")

    asyncio.run(go())
    assert [(o.op, o.status) for o in history.ops] == [("login", 200), ("login", 503)]
