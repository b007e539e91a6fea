"""Every checker on hand-made histories: one that passes, one that fails for the right reason."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from authchaos.checks import CHECKERS, CheckContext
from authchaos.checks.expectations import Expectations, Slo
from authchaos.record.history import Op
from authchaos.record.windows import FaultWindow

S = 1_000_000_000  # one second in ns


class H:
    """A tiny history builder: times in seconds."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.windows: list[FaultWindow] = []

    def op(self, op: str, t: float, status: int | None = 200, *, client: int = 0, dur: float = 0.01, **kw: Any) -> Op:
        o = Op(
            len(self.ops),
            client,
            op,
            int(t * S),
            int((t + dur) * S),
            "ok" if status and status < 300 else "fail",
            status,
            **kw,
        )
        self.ops.append(o)
        return o

    def fault(self, name: str, start: float, end: float, target: str = "network") -> None:
        self.windows.append(FaultWindow(name, name, target, start, end - start, int(start * S), int(end * S)))

    def ctx(self, **expect: Any) -> CheckContext:
        for o in self.ops:
            active = [w for w in self.windows if w.start_ns <= o.end_ns and o.start_ns <= w.end_ns]
            o.phase = (
                f"during:{active[0].name}"
                if active
                else ("before" if not self.windows or o.end_ns < self.windows[0].start_ns else "after")
            )
        return CheckContext(self.ops, self.windows, Expectations(**expect), degraded_max_s=2.0)


def run(name: str, ctx: CheckContext):  # type: ignore[no-untyped-def]
    return CHECKERS[name](ctx)


def test_no_server_errors() -> None:
    h = H()
    h.op("refresh", 1, 503, error="store_unavailable", retry_after="1")
    assert run("no_server_errors", h.ctx()).passed
    h.op("refresh", 2, 503, error="store_unavailable")  # no Retry-After
    bad = h.op("me", 3, 500, error="internal_error")
    result = run("no_server_errors", h.ctx())
    assert not result.passed and bad.id in result.evidence and "500 internal_error" in result.summary


def test_no_hung_requests() -> None:
    h = H()
    h.fault("blackhole", 2, 9)
    h.op("me", 1, 200)
    h.op("me", 2.5, 503, error="store_unavailable", retry_after="1", dur=0.5)  # failing fast is an answer
    h.op("me", 3, None, error="service_unreachable", message="ConnectError")  # not a hang: nothing listened
    h.op("me", 3, None, error="client_timeout", probe="steady")  # probes are the steady-state check's
    assert run("no_hung_requests", h.ctx()).passed
    hung = [h.op("me", 3, None, error="client_timeout", dur=5.0), h.op("refresh", 4, None, error="client_timeout")]
    result = run("no_hung_requests", h.ctx())
    assert not result.passed and result.evidence == [o.id for o in hung]
    assert "2 requests got no answer" in result.summary and "1x me, 1x refresh" in result.summary
    assert "2 of them during or just after a fault" in result.summary


def test_degradation_policy() -> None:
    h = H()
    h.fault("blackhole", 5, 8)
    h.op("me", 6, 200, degraded=True)
    h.op("refresh", 6.5, 503, error="store_unavailable", retry_after="1")
    h.op("login", 7, 200)
    assert run("degradation_policy", h.ctx(recovery_max_s=1)).passed
    healthy_503 = h.op("refresh", 1, 503, error="store_unavailable", retry_after="1")
    late = h.op("me", 8.5, 200, degraded=True)  # 3.5 s into the outage: past the 2 s (+1 s) window
    h.windows[0] = FaultWindow("blackhole", "blackhole", "network", 5, 10, 5 * S, 15 * S)
    too_long = h.op("me", 14, 200, degraded=True)  # 9 s into the outage, window is 2 s
    login_500 = h.op("login", 6, 500)
    result = run("degradation_policy", h.ctx(recovery_max_s=1))
    assert not result.passed
    assert set(result.evidence) == {healthy_503.id, late.id, too_long.id, login_500.id}
    assert "login without fallback tokens" in result.summary


def test_an_accept_past_the_window_while_redis_is_unreachable_breaks_the_policy_degraded_or_not() -> None:
    """A service that reads a Redis error as "not revoked" answers 200 without the degraded header, and never 503:
    past the window, with nothing reaching Redis, that 200 is impossible for an honest lookup."""
    h = H()
    h.fault("blackhole", 5, 10)
    h.op("me", 6, 200)  # inside the window (+1 s): the service may not have counted the outage yet
    h.op("me", 8.5, 503, error="store_unavailable", retry_after="1")
    h.op("me", 9.9, 200, dur=0.3)  # answered after the fault ended: Redis may have answered
    h.op("me", 8.5, 401, error="token_revoked", probe="revoked")  # a probe is judged by the revocation checks
    assert run("degradation_policy", h.ctx(recovery_max_s=1)).passed
    silent = h.op("me", 8.5, 200)
    h.fault("latency", 12, 20)
    h.op("me", 16, 200)  # a slow Redis still answers: not an unreachable one
    result = run("degradation_policy", h.ctx(recovery_max_s=1))
    assert not result.passed and result.evidence == [silent.id]
    assert "accepted past the 2s degraded window while Redis was unreachable" in result.summary


def test_an_accept_late_in_a_partial_blackhole_or_after_its_stop_was_sent_is_no_violation() -> None:
    """Half the connections blackholed lets honest lookups through; a Redis back once the stop was sent (a restart
    that waits for readiness, say) answers before the window's recorded end."""
    h = H()
    h.windows.append(FaultWindow("blackhole", "blackhole", "network", 5, 10, 5 * S, 15 * S, whole=False))
    h.op("me", 9, 200)
    h.windows.append(FaultWindow("kill", "kill", "process", 20, 5, 20 * S, 26 * S, stop_sent_ns=25 * S))
    h.op("me", 25.2, 200, dur=0.1)  # sent late in the kill, answered after its stop was sent
    assert run("degradation_policy", h.ctx(recovery_max_s=1)).passed
    early = h.op("me", 24.5, 200, dur=0.1)  # answered while Redis was surely still dead
    result = run("degradation_policy", h.ctx(recovery_max_s=1))
    assert not result.passed and result.evidence == [early.id]


def test_the_service_frozen_while_redis_answers_is_no_outage_a_shed_held_back_is_fine_a_degraded_answer_is_not() -> (
    None
):
    """service_pause: the process stalls, Redis does not. Requests held across the stall may be shed (a request
    held that long is the evidence of the lateness), never answered degraded or with 503 store_unavailable."""
    h = H()
    h.fault("service_pause", 2, 2.4, target="stall")
    h.op("me", 1.9, 200, dur=0.6)  # held across the stall, then answered
    h.op("refresh", 1.95, 503, error="overloaded", retry_after="1", dur=0.5)
    h.op("me", 2.6, 200)
    assert run("degradation_policy", h.ctx(recovery_max_s=1, shed_min_inflight=16)).passed
    degraded = h.op("me", 2.5, 200, degraded=True)
    unavailable = h.op("refresh", 2.7, 503, error="store_unavailable", retry_after="1")
    result = run("degradation_policy", h.ctx(recovery_max_s=1, shed_min_inflight=16))
    assert not result.passed and set(result.evidence) == {degraded.id, unavailable.id}
    assert "degraded while Redis was healthy" in result.summary


def test_no_false_rejections() -> None:
    h = H()
    h.op("refresh", 1, 401, error="token_reused", token_id="t1", probe=None)
    h.op("refresh", 0.5, 200, token_id="t1")  # t1 had been exchanged: the 401 is genuine reuse
    h.op("me", 2, 401, error="token_revoked", probe="revoked")
    assert run("no_false_rejections", h.ctx()).passed
    wrong_type = h.op("refresh", 3, 401, error="invalid_token", message="Invalid token type for refresh", token_id="t2")
    spurious = h.op("refresh", 4, 401, error="token_reused", token_id="never-exchanged")
    result = run("no_false_rejections", h.ctx())
    assert not result.passed and {wrong_type.id, spurious.id} <= set(result.evidence)
    assert "Invalid token type for refresh" in result.summary


def test_a_retry_of_a_refresh_cut_by_a_service_kill_may_be_reuse_one_cut_by_redis_may_not() -> None:
    """The killed process may have rotated the token before it died, and its memory of that went with it: the
    retry answered token_reused is unknown, not a false rejection. Cut by a Redis fault, the process that saw the
    call fail is alive and must complete the rotation on the retry."""
    h = H()
    h.fault("service_kill", 3, 4, target="service")
    h.op("refresh", 2.95, None, error="service_unreachable", token_id="t1", dur=0.1)  # in flight at the kill
    h.op("refresh", 4.5, 401, error="token_reused", token_id="t1")
    assert run("no_false_rejections", h.ctx()).passed
    assert run("sessions_lost", h.ctx()).passed
    h.op("refresh", 3.5, None, error="service_unreachable", token_id="t3")  # refused: the service was down
    after_refusal = h.op("refresh", 4.6, 401, error="token_reused", token_id="t3")
    h.fault("blackhole", 6, 7)
    h.op("refresh", 6.2, None, error="client_timeout", token_id="t2")
    lost = h.op("refresh", 7.5, 401, error="token_reused", token_id="t2")
    result = run("no_false_rejections", h.ctx())
    assert not result.passed and set(result.evidence) == {after_refusal.id, lost.id}


def test_revocations_stick_and_exposure_window() -> None:
    h = H()
    h.op("logout", 1, 200, revoked_ids=["a1"], revoked_families=["f1"])
    h.op("me", 2, 401, token_id="a1", family="f1", probe="revoked")
    h.op("me", 0.5, 200, token_id="a1", family="f1")  # before the revocation: fine
    assert run("revocations_stick", h.ctx()).passed
    assert run("exposure_window", h.ctx()).passed
    leak = h.op("refresh", 3, 200, token_id="r9", family="f1")
    assert run("revocations_stick", h.ctx()).evidence == [leak.id]
    h.ops.pop()
    degraded = h.op("me", 2.5, 200, token_id="a1", family="f1", degraded=True)
    assert run("revocations_stick", h.ctx()).passed, "degraded accepts are the exposure check's business"
    result = run("exposure_window", h.ctx(exposure_max_s=0))
    assert not result.passed and result.evidence == [degraded.id] and result.details["max_s"] > 1
    assert run("exposure_window", h.ctx(exposure_max_s=5)).passed


def test_rotation_once_with_and_without_grace() -> None:
    h = H()
    h.op("refresh", 1, 200, token_id="r1")
    h.op("refresh", 2, 200, token_id="r2")
    assert run("rotation_once", h.ctx()).passed
    twice = h.op("refresh", 1.2, 200, token_id="r1")
    assert run("rotation_once", h.ctx()).evidence == [twice.id]
    ctx = h.ctx()
    ctx.reuse_grace_s = 1.0
    assert run("rotation_once", ctx).passed


def test_reuse_revokes_family() -> None:
    h = H()
    h.op("replay", 1, 401, error="token_reused", family="f1", probe="replayed")
    h.op("refresh", 2, 401, error="token_revoked", family="f1")
    assert run("reuse_revokes_family", h.ctx()).passed
    alive = h.op("me", 3, 200, family="f1")
    assert run("reuse_revokes_family", h.ctx()).evidence == [alive.id]


def test_latency_slo() -> None:
    h = H()
    for i in range(100):
        h.op("me", i * 0.01, 200, dur=0.010 if i < 90 else 0.5)
    ok = h.ctx(slo=[Slo(op="me", p50_ms=20)])
    assert run("latency_slo", ok).passed
    bad = run("latency_slo", h.ctx(slo=[Slo(op="me", p95_ms=100)]))
    assert not bad.passed and "p95" in bad.summary
    none = run("latency_slo", h.ctx(slo=[Slo(op="refresh", p95_ms=100)]))
    assert not none.passed and "cannot be judged" in none.summary
    h.op("me", 2, 503)
    assert not run("latency_slo", h.ctx(slo=[Slo(op="me", max_error_ratio=0)])).passed


def test_recovery_and_clients_recover() -> None:
    h = H()
    h.fault("down", 1, 2)
    for i in range(12):
        h.op("me", 2.1 + i * 0.1, 200, client=i % 2)
    ctx = h.ctx(recovery_max_s=1)
    rec = run("recovery", ctx)
    assert rec.passed and rec.details["faults"][0]["first_success_s"] < 0.2
    assert run("clients_recover", ctx).passed
    h2 = H()
    h2.fault("down", 1, 2)
    h2.op("me", 0.5, 200, client=1)
    for i in range(12):
        h2.op("me", 2.1 + i * 0.1, 503, client=0)
    ctx2 = h2.ctx(recovery_max_s=1)
    assert not run("recovery", ctx2).passed
    lost = run("clients_recover", ctx2)
    assert not lost.passed and lost.details["clients"] == [0, 1]


def test_unknown_outcomes_are_listed_not_passed() -> None:
    h = H()
    unknown = h.op("refresh", 1, None, error="client_timeout")
    unknown.outcome = "unknown"
    result = run("unknown_outcomes", h.ctx())
    assert result.evidence == [unknown.id] and result.details["count"] == 1
    assert not run("clients_recover", h.ctx()).passed, "an unknown outcome is not a success"


def test_steady_state() -> None:
    h = H()
    ctx = h.ctx()
    ctx.steady = {"before": {"passed": True}, "after": {"passed": True}}
    assert run("steady_state", ctx).passed
    ctx.steady["after"] = {"passed": False}
    assert "after" in run("steady_state", ctx).summary


def _replicated(h: H, kind: str, start: float, end: float) -> None:
    h.windows.append(FaultWindow(kind, kind, "replicated", start, end - start, int(start * S), int(end * S)))


def test_acknowledged_revocations_lost_counts_and_names_them() -> None:
    h = H()
    h.op("logout", 1, 200, revoked_ids=["a1"], revoked_families=["f1"])
    h.op("blacklist_batch", 1.5, 200, revoked_ids=["a2"])
    _replicated(h, "partition_primary", 2, 5)
    h.op("me", 3, 401, token_id="a1", family="f1", probe="revoked")
    assert run("acknowledged_revocations_lost", h.ctx()).passed
    lost = h.op("me", 6, 200, token_id="a2")
    h.op("me", 6.5, 200, token_id="a2")  # the same loss, seen twice: counted once
    h.op("me", 7, 200, token_id="a3", degraded=True)  # never revoked, and degraded: not a loss
    result = run("acknowledged_revocations_lost", h.ctx())
    assert not result.passed and result.evidence == [lost.id]
    figures = result.details["figures"]
    assert figures["acknowledged"] == 3 and figures["lost"] == 1
    assert figures["lost_per_fault"] == {"partition_primary": 1}
    assert result.details["lost"][0]["revoked"] == "a2"


def test_double_rotation_across_failover() -> None:
    h = H()
    h.op("refresh", 1, 200, token_id="r1", new_token_id="r2")
    h.op("refresh", 9, 200, token_id="r1", new_token_id="r2-again")  # no replicated fault in between
    assert not run("double_rotation_across_failover", h.ctx()).applicable
    _replicated(h, "failover", 3, 4)
    result = run("double_rotation_across_failover", h.ctx())
    assert not result.passed and result.details["figures"]["rotated_twice"] == 1
    h.ops[1].new_token_id = "r2"  # the same successor: a retry, not a second rotation
    assert run("double_rotation_across_failover", h.ctx()).passed


def test_sessions_lost() -> None:
    h = H()
    h.op("login", 0.5, 200, new_family="f1", new_token_id="r1", user="alice")
    h.op("refresh", 1, 200, token_id="r1", family="f1", new_token_id="r2")
    _replicated(h, "kill_primary", 2, 3)
    assert run("sessions_lost", h.ctx()).passed
    gone = h.op("refresh", 4, 401, error="token_reused", token_id="r2", family="f1")  # r2 was never exchanged
    h.op("me", 4.5, 401, error="token_revoked", token_id="a2", family="f1")  # the same session
    result = run("sessions_lost", h.ctx())
    assert not result.passed and result.evidence == [gone.id]
    assert result.details["figures"] == {"sessions": 1, "lost": 1, "lost_per_fault": {"kill_primary": 1}}


def test_writable_primary_measures_and_bounds() -> None:
    h = H()
    _replicated(h, "failover", 2, 4)
    h.op("refresh", 1, 200)
    h.op("logout", 2.5, 503, error="store_unavailable")
    h.op("refresh", 3, None)  # no answer
    h.op("logout", 3.5, 401, error="token_revoked")  # an answer, but no proof a write can land
    h.op("refresh", 4.5, 200)
    result = run("writable_primary", h.ctx())
    assert result.passed and result.details["figures"]["unwritable_s_per_fault"] == {"1:failover": 2.0}
    assert not run("writable_primary", h.ctx(unwritable_max_s=1.5)).passed
    assert run("writable_primary", h.ctx(unwritable_max_s=2.5)).passed


def test_acknowledged_revocations_lost_honours_the_declared_loss_window() -> None:
    h = H()
    h.op("logout", 2.6, 200, revoked_ids=["a1"])
    h.windows.append(FaultWindow("kill", "kill", "process", 3, 2, 3 * S, 5 * S))
    h.op("me", 6, 200, token_id="a1")
    assert not run("acknowledged_revocations_lost", h.ctx()).passed
    assert run("acknowledged_revocations_lost", h.ctx(revocation_loss_window_s=1.5)).passed


def test_outage_sessions_survive_a_killed_issuer() -> None:
    h = H()
    assert not run("outage_sessions_survive", h.ctx()).applicable  # nothing to judge: never a pass
    h.fault("down", 1, 4)
    h.fault("service_kill", 3, 5, target="service")
    h.op("login", 0.5, new_family="f-before", user="u")  # before the outage: not a fallback session
    h.op("login", 2, new_family="f1", user="u")
    h.op("login", 2.5, new_family="f2", user="u")
    h.op("held_refresh", 4.5, None, family="f1", error="service_unreachable")  # the service is down: retried
    h.op("held_refresh", 6, family="f1", token_id="r1", new_family="f1")
    h.op("held_refresh", 5.5, 401, family="f-before", error="token_revoked")  # not an outage session: not here
    result = run("outage_sessions_survive", h.ctx())
    assert result.passed and result.applicable and "1 sessions opened during the outage" in result.summary
    bad = h.op("held_refresh", 6.2, 401, family="f2", error="token_revoked", message="Session not found")
    result = run("outage_sessions_survive", h.ctx())
    assert not result.passed and result.evidence == [bad.id] and "Session not found" in result.summary
    assert not run("no_false_rejections", h.ctx()).passed  # the same rejection, by the general rule


def test_a_revoked_outage_session_may_be_refused() -> None:
    h = H()
    h.fault("down", 1, 4)
    h.op("login", 2, new_family="f1", user="u")
    h.op("logout", 4.5, revoked_families=["f1"])
    h.op("held_refresh", 6, 401, family="f1", error="token_revoked")
    assert run("outage_sessions_survive", h.ctx()).passed


def test_a_login_without_an_answer_while_the_service_is_down_is_not_a_policy_breach() -> None:
    h = H()
    h.fault("service_kill", 1, 3, target="service")
    h.op("login", 2, None, error="service_unreachable")
    h.op("login", 0.5, None, error="service_unreachable", dur=0.6)  # started just before the kill: cut by it
    assert run("degradation_policy", h.ctx()).passed
    h.op("login", 5, None, error="client_timeout")
    assert not run("degradation_policy", h.ctx()).passed
    hung = H()
    hung.fault("service_kill", 4, 5, target="service")
    hung.op("login", 1.5, None, error="connection_reset", dur=2.6)  # hung for 2.5 s before the kill cut it
    assert not run("degradation_policy", hung.ctx()).passed


def test_a_witness_that_did_not_happen_fails_the_run_when_the_scenario_needs_it() -> None:
    from authchaos.checks.context import EffectiveSettings
    from authchaos.checks.judge import judge
    from authchaos.record.history import History

    history = History(0, H().ops)
    plain = judge(history, [], Expectations(), EffectiveSettings(), names=["outage_sessions_survive"])
    assert plain[0].passed and not plain[0].applicable
    needed = judge(
        history,
        [],
        Expectations(must_judge=["outage_sessions_survive"]),
        EffectiveSettings(),
        names=["outage_sessions_survive"],
    )
    assert not needed[0].passed and "the witness did not happen" in needed[0].summary


def test_users_stay_apart() -> None:
    h = H()
    assert not run("users_stay_apart", h.ctx()).applicable
    h.op("login", 0.1, new_family="adm", user="admin")
    h.op("cross_user", 1, 401, probe="foreign_subject", error="token_revoked")
    h.op("cross_user", 1.2, 403, probe="not_admin", error="forbidden")
    h.op("cross_user", 1.4, 200, revoked_families=["mine"])  # a logout with the admin's refresh token
    h.op("owner_refresh", 1.5, family="adm", token_id="r1", new_token_id="r2", new_family="adm")
    h.op("owner_refresh", 1.7, None, family="adm", token_id="r2", error="client_timeout")  # no answer: not judged
    result = run("users_stay_apart", h.ctx())
    assert result.passed and result.applicable, result.summary
    forged = h.op("cross_user", 2, 200, probe="foreign_subject")
    lost = h.op("owner_refresh", 2.5, 401, family="adm", token_id="r3", error="token_revoked")
    result = run("users_stay_apart", h.ctx())
    assert not result.passed and result.evidence == [forged.id, lost.id]
    assert "foreign_subject" in result.summary and "the victim's session ended" in result.summary


def test_users_stay_apart_allows_the_victims_own_revocation() -> None:
    h = H()
    h.op("logout", 1, revoked_families=["adm"])  # the admin itself logged out
    h.op("owner_refresh", 2, 401, family="adm", token_id="r1", error="token_revoked")
    assert run("users_stay_apart", h.ctx()).passed


def test_a_reuse_verdict_does_not_excuse_itself() -> None:
    """A held or victim session answered "reused" although its token was never exchanged is a lost session."""
    h = H()
    h.fault("down", 1, 4)
    h.op("login", 2, new_family="f1", user="u")
    h.op("held_refresh", 6, 401, family="f1", token_id="r1", error="token_reused")
    assert not run("outage_sessions_survive", h.ctx()).passed
    h = H()
    h.op("cross_user", 1, 401, probe="foreign_subject")
    victim = h.op("owner_refresh", 2, 401, family="adm", token_id="r1", error="token_reused")
    result = run("users_stay_apart", h.ctx())
    assert not result.passed and result.evidence == [victim.id]


def test_a_503_the_scenario_declares_is_policy_not_degradation() -> None:
    """Where writes cannot be made durable (replicas:1 on one node) a refresh must be 503 while Redis is healthy."""
    h = H()
    h.op("refresh", 1, 503, error="store_unavailable", retry_after="1")
    assert not run("degradation_policy", h.ctx()).passed  # undeclared: degraded while healthy
    rule = {"op": "refresh", "phase": "any", "allowed": [503]}
    assert run("degradation_policy", h.ctx(status=[rule])).passed
    h.op("refresh", 2, 200, token_id="r1", new_token_id="r2")
    result = run("degradation_policy", h.ctx(status=[rule]))
    assert not result.passed and "refresh before: 200 not in [503]" in result.summary


def test_an_operation_the_scenario_forbids_to_succeed_is_not_a_wrong_contract() -> None:
    """replicas:1 on one node: refresh must never succeed, so its never succeeding is the point; anything else
    that never succeeds still fails the contract."""
    h = H()
    for i in range(3):
        h.op("refresh", i, 503, error="store_unavailable", retry_after="1")
    assert not run("contract_conformance", h.ctx()).passed  # undeclared: refresh never succeeded
    never_ok = {"op": "refresh", "phase": "any", "allowed": [503]}
    assert run("contract_conformance", h.ctx(status=[never_ok])).passed
    only_during = {"op": "refresh", "phase": "during", "allowed": [503]}
    assert not run("contract_conformance", h.ctx(status=[only_during])).passed


def test_an_error_reply_taken_for_an_outage_fails_and_a_fail_closed_one_passes() -> None:
    """While Redis refuses scripts (NOPERM), a refresh is 503 and /auth/me is served from Redis; a degraded
    answer in the window (a fallback login, an unchecked accept) means the breaker opened on an error reply."""
    h = H()
    h.fault("command_denied", 1, 4, target="command")
    h.op("refresh", 2, 503, error="store_unavailable", retry_after="1")
    h.op("me", 2.5, 200, token_id="a1")
    assert run("command_errors_fail_closed", h.ctx()).passed
    assert run("degradation_policy", h.ctx(status=[{"op": "refresh", "phase": "during", "allowed": [503]}])).passed
    fallback = h.op("login", 3, 200, degraded=True, new_family="f9", user="u")
    result = run("command_errors_fail_closed", h.ctx())
    assert not result.passed and result.evidence == [fallback.id]
    assert not run("degradation_policy", h.ctx()).passed  # Redis answered: degraded while healthy


def test_command_errors_with_nothing_refused_are_not_applicable() -> None:
    h = H()
    h.fault("command_denied", 1, 4, target="command")
    h.op("me", 2, 200, token_id="a1")
    result = run("command_errors_fail_closed", h.ctx())
    assert not result.applicable and "not applicable" in result.summary


def test_saturated_with_a_slow_redis_a_shed_is_right_and_a_degraded_or_store_answer_is_not() -> None:
    """slow_redis: Redis late but answering. Beyond capacity the service sheds; a degraded accept or a 503
    store_unavailable in the window (or its recovery time) means it took its own saturation for an outage."""
    h = H()
    h.fault("slow_redis", 1, 4, target="slow")
    for i in range(5):  # five in flight at once: the shed is beyond a capacity of four
        h.op("me", 2 + i * 0.01, 200, client=i, dur=0.3)
    h.op("me", 2.05, 503, client=5, error="overloaded", retry_after="1")
    h.op("refresh", 3, 200, token_id="r1")
    assert run("overload_is_not_an_outage", h.ctx(recovery_max_s=1)).passed
    assert run("degradation_policy", h.ctx(recovery_max_s=1, shed_min_inflight=4)).passed
    degraded = h.op("me", 3.5, 200, client=6, degraded=True)
    unavailable = h.op("refresh", 4.5, 503, client=7, error="store_unavailable", retry_after="1")  # recovery time
    h.op("me", 6, 200, client=8, degraded=True)  # long after: not this check's (degradation_policy's)
    result = run("overload_is_not_an_outage", h.ctx(recovery_max_s=1))
    assert not result.passed and set(result.evidence) == {degraded.id, unavailable.id}
    policy = run("degradation_policy", h.ctx(recovery_max_s=1, shed_min_inflight=4))
    assert not policy.passed and "degraded while Redis was healthy" in policy.summary


def test_a_slow_redis_with_nothing_shed_or_no_slow_fault_is_not_applicable() -> None:
    h = H()
    h.op("me", 0.5, 503, error="overloaded", retry_after="1")  # shed, but Redis was not slow
    assert not run("overload_is_not_an_outage", h.ctx()).applicable
    h.fault("slow_redis", 1, 4, target="slow")
    h.op("me", 2, 200, degraded=True)
    result = run("overload_is_not_an_outage", h.ctx())
    assert not result.applicable and "never saturated" in result.summary


def test_a_session_used_past_its_absolute_lifetime_fails_however_often_it_rotated() -> None:
    """A 7 s session (leeway 1 s) opened by a login answered at 1.01 s: rotations and accepts until 9.01 + slack
    are fine, near the end either answer is, and an accept of its family later is a session outliving its bound."""
    h = H()
    h.op("login", 1, 200, new_family="f1")
    for t in range(2, 8):
        h.op("refresh", t, 200, family="f1", new_family="f1")
    h.op("session_ending", 8.6, 200, family="f1", new_family="f1", probe="session_ending")  # in its leeway
    h.op("session_ended", 9.6, 401, error="token_expired", family="f1", probe="session_ended")
    ctx = h.ctx()
    ctx.session_max_s, ctx.leeway_s = 7.0, 1.0
    assert run("sessions_end_on_time", ctx).passed
    late = h.op("session_ended", 9.7, 200, family="f1", probe="session_ended")
    late_me = h.op("me", 9.8, 200, family="f1")
    ctx = h.ctx()
    ctx.session_max_s, ctx.leeway_s = 7.0, 1.0
    result = run("sessions_end_on_time", ctx)
    assert not result.passed and set(result.evidence) == {late.id, late_me.id}
    assert "past the session's 7s absolute lifetime" in result.summary


def test_sessions_end_on_time_is_not_applicable_when_no_session_reached_its_end() -> None:
    h = H()
    h.op("login", 1, 200, new_family="f1")
    h.op("refresh", 2, 200, family="f1")
    result = run("sessions_end_on_time", h.ctx())
    assert not result.applicable and "outlive_session" in result.summary


def _guesses(h: H, account: str, statuses: list[tuple[float, int]]) -> list[Op]:
    return [h.op("guess_login", t, s, user=account, probe="guess") for t, s in statuses]


def _throttle_ctx(h: H) -> CheckContext:
    ctx = h.ctx()
    ctx.login_budget, ctx.login_window_s = 3, 4.0
    return ctx


def test_guesses_past_the_budget_are_refused_inside_the_window_and_answered_after_it() -> None:
    h = H()
    _guesses(h, "nobody-1", [(1, 401), (1.1, 401), (1.2, 401), (1.3, 429), (2.3, 429), (5.6, 401)])
    _guesses(h, "nobody-2", [(1, 401), (1.1, 429)])  # another limit refused it first: not this check's to judge
    result = run("logins_throttled", _throttle_ctx(h))
    assert result.passed and result.summary.startswith("1 accounts guessed past their budget")


def test_a_password_checked_past_the_budget_or_a_window_that_never_ends_fails() -> None:
    h = H()
    checked = _guesses(h, "nobody-1", [(1, 401), (1.1, 401), (1.2, 401), (1.3, 401)])[-1]
    forever = _guesses(h, "nobody-2", [(1, 401), (1.1, 401), (1.2, 401), (1.3, 429), (5.6, 429)])[-1]
    _guesses(h, "nobody-3", [(1, 401), (1.1, 401), (1.2, 401), (4.5, 401), (4.6, 401)])  # may have ended: a new one
    result = run("logins_throttled", _throttle_ctx(h))
    assert not result.passed and set(result.evidence) == {checked.id, forever.id}
    assert "a password checked after 3 failures inside the window" in result.summary
    assert "refused after the throttle's window had ended" in result.summary


def test_the_throttle_check_is_not_applicable_without_guesses_a_spent_budget_or_a_throttle() -> None:
    h = H()
    assert not run("logins_throttled", _throttle_ctx(h)).applicable
    _guesses(h, "nobody-1", [(1, 401), (1.1, 503)])  # judging stops at a 5xx
    result = run("logins_throttled", _throttle_ctx(h))
    assert not result.applicable and "no account's budget was spent" in result.summary
    ctx = _throttle_ctx(h)
    ctx.login_budget = 0
    assert "throttle is off" in run("logins_throttled", ctx).summary


def test_an_account_removed_disabled_or_demoted_is_refused_and_an_accept_after_the_change_fails() -> None:
    h = H()
    h.op("account_gone", 2, 401, error="token_revoked", probe="account_gone")
    h.op("account_gone", 2.1, 401, error="invalid_credentials", probe="account_gone")
    h.op("demoted", 2.2, 403, error="forbidden", probe="demoted")
    h.op("demoted", 2.3, None, error="client_timeout", probe="demoted")  # no answer: not judged
    h.op("demoted", 2.4, 503, error="store_unavailable", probe="demoted")  # the service could not tell: not judged
    result = run("accounts_follow_directory", h.ctx())
    assert result.passed and result.summary.startswith("2 presentations of removed or disabled accounts and 1")
    gone = h.op("account_gone", 3, 200, probe="account_gone")
    still_admin = h.op("demoted", 3.1, 200, probe="demoted")
    not_found = h.op("account_gone", 3.2, 404, probe="account_gone")  # no refusal the service declares
    result = run("accounts_follow_directory", h.ctx())
    assert not result.passed and set(result.evidence) == {gone.id, still_admin.id, not_found.id}
    assert "account_gone 200" in result.summary and "demoted 200" in result.summary


def test_accounts_follow_directory_is_not_applicable_without_directory_changes() -> None:
    h = H()
    h.op("me", 1, 200)
    result = run("accounts_follow_directory", h.ctx())
    assert not result.applicable and "service.accounts" in result.summary


def test_an_outage_session_adopted_after_a_logout_all_is_a_revocation_lost() -> None:
    """A login answered during the outage (a fallback session, family f1), a logout-all of its user once Redis
    is back, then the set-aside session refreshes: only the revoked-before time could have stopped it."""
    h = H()
    h.fault("down", 1, 4)
    h.op("login", 2, 200, new_family="f1", new_token_id="r1", user="user", degraded=True)
    h.op("logout_all", 6, 200, revoked_user="user")
    adopted = h.op("held_refresh", 7, 200, family="f1", token_id="r1", new_token_id="r2", probe="revoked")
    result = run("revocations_stick", h.ctx())
    assert not result.passed and result.evidence == [adopted.id]
    h.ops[-1] = replace(adopted, status=401, error="token_revoked", new_token_id=None)
    assert run("revocations_stick", h.ctx()).passed
    typeless = h.op("outage_logout_all", 7.5, 200, probe="revoked")  # a legacy access token: no id, no family
    result = run("revocations_stick", h.ctx())
    assert not result.passed and result.evidence == [typeless.id]


def test_a_session_revoked_by_a_race_whose_verdict_was_lost_is_not_a_false_rejection() -> None:
    """Two workers, three refreshes of one token at once as a blackhole starts: all answered 503, but a rotation
    landed and the other presentations were a reuse that revoked the session. The client's next refresh of the
    token it still holds gets token_revoked: nobody it could see revoked the session, yet the service was right.
    A retry sent after one unknown outcome, alone, is still judged (it must be idempotent)."""
    h = H()
    for _ in range(3):
        h.op("concurrent_refresh", 1, 503, token_id="r1", family="f", error="store_unavailable", dur=0.5)
    h.op("refresh", 5, 401, token_id="r1", family="f", error="token_revoked")
    assert run("no_false_rejections", h.ctx()).passed
    g = H()
    g.op("refresh", 1, 503, token_id="r1", family="f", error="store_unavailable", dur=0.5)
    retry = g.op("refresh", 5, 401, token_id="r1", family="f", error="token_revoked")
    result = run("no_false_rejections", g.ctx())
    assert not result.passed and result.evidence == [retry.id]


def test_a_must_judge_check_whose_witness_was_skipped_by_name_is_not_applicable_not_red() -> None:
    """The service lacks what the witness needs (its contract passes no AUTHCHAOS_SESSION_MAX_S): the operation is
    skipped by name, so the check says why it could not judge; a witness that merely did not happen fails."""
    from authchaos.checks import EffectiveSettings, judge
    from authchaos.record.history import History

    history = History(0)
    history.ops = [Op(0, 0, "me", S, 2 * S, "ok", 200)]
    expect = Expectations(must_judge=["sessions_end_on_time"])
    skipped = {"outlive_session": ["AUTHCHAOS_SESSION_MAX_S passed on"]}
    (result,) = judge(history, [], expect, EffectiveSettings(), names=["sessions_end_on_time"], skipped=skipped)
    assert result.passed and not result.applicable
    assert "its witness outlive_session was skipped (the service has no AUTHCHAOS_SESSION_MAX_S passed on)" in (
        result.summary
    )
    (result,) = judge(history, [], expect, EffectiveSettings(), names=["sessions_end_on_time"])
    assert not result.passed and "the witness did not happen" in result.summary
