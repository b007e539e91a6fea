"""Each token-semantics checker fails through each adversarial operation that can expose its invariant.

Histories are hand-made the way the workload records them (op names, probes, revoked_* fields), so a
checker that cannot see what an operation reports fails here, not silently in the gate.
"""

from __future__ import annotations

from tests.unit.test_checks import H, run


def login(h: H, t: float, family: str, user: str = "alice", client: int = 0) -> None:
    h.op("login", t, 200, new_token_id=f"r-{family}", new_family=family, user=user, client=client)


# -- revocations_stick / revocations_hold_while_healthy ---------------------------------------------------


def test_a_refresh_token_presented_again_after_logout_must_be_rejected() -> None:
    h = H()
    login(h, 0, "f1")
    h.op("logout", 1, 200, token_id="a1", family="f1", revoked_ids=["a1"], revoked_families=["f1"])
    h.op("recheck_revoked", 2, 401, token_id="r-f1", family="f1", probe="revoked")
    assert run("revocations_stick", h.ctx()).passed
    leak = h.op("recheck_revoked", 3, 200, token_id="r-f1", family="f1", probe="revoked")
    assert run("revocations_stick", h.ctx()).evidence == [leak.id]
    assert run("revocations_hold_while_healthy", h.ctx()).evidence == [leak.id]


def test_logout_all_revokes_every_earlier_session_of_the_user() -> None:
    h = H()
    login(h, 0, "mine", client=0)
    login(h, 0.2, "other-client", client=1)
    login(h, 0.3, "bob-session", user="bob", client=2)
    h.op("logout_all", 1, 200, token_id="a", family="mine", revoked_user="alice")
    h.op("me", 2, 200, family="bob-session", client=2)  # another user: untouched
    login(h, 3, "after", client=1)
    h.op("me", 4, 200, family="after", client=1)  # a session issued after the logout-all: fine
    assert run("revocations_stick", h.ctx()).passed
    leak = h.op("refresh", 5, 200, family="other-client", client=1)
    assert run("revocations_stick", h.ctx()).evidence == [leak.id]


def test_blacklisting_a_refresh_token_revokes_the_access_token_of_its_grant() -> None:
    h = H()
    h.op("blacklist_session", 1, 200, revoked_ids=["r1"], revoked_families=["f1"])
    sibling = h.op("me", 2, 200, token_id="a1", family="f1", probe="revoked")
    assert run("revocations_stick", h.ctx()).evidence == [sibling.id]


def test_a_degraded_accept_of_a_revoked_token_while_redis_is_healthy_fails_only_the_healthy_check() -> None:
    h = H()
    h.op("logout", 1, 200, revoked_ids=["a1"], revoked_families=["f1"])
    h.fault("blackhole", 5, 6)
    h.op("me", 5.5, 200, token_id="a1", family="f1", degraded=True)  # during the outage: exposure's business
    assert run("revocations_hold_while_healthy", h.ctx()).passed
    healthy = h.op("me", 20, 200, token_id="a1", family="f1", degraded=True)
    assert run("revocations_stick", h.ctx()).passed
    assert run("revocations_hold_while_healthy", h.ctx()).evidence == [healthy.id]


def test_nothing_revoked_is_not_applicable() -> None:
    h = H()
    h.op("me", 1, 200, token_id="a", family="f")
    result = run("revocations_stick", h.ctx())
    assert result.passed and not result.applicable


# -- rotation_once ---------------------------------------------------------------------------------------


def test_a_concurrent_refresh_race_won_twice_is_a_double_rotation() -> None:
    h = H()
    h.op("concurrent_refresh", 1, 200, token_id="r1", new_token_id="r2")
    h.op("concurrent_refresh", 1, 401, token_id="r1", error="token_reused", family="f")
    assert run("rotation_once", h.ctx()).passed
    second = h.op("concurrent_refresh", 1, 200, token_id="r1", new_token_id="r3")
    assert run("rotation_once", h.ctx()).evidence == [second.id]


def test_inside_the_grace_window_repeats_must_get_the_same_successor() -> None:
    h = H()
    h.op("concurrent_refresh", 1, 200, token_id="r1", new_token_id="r2")
    h.op("concurrent_refresh", 1.001, 200, token_id="r1", new_token_id="r2")
    ctx = h.ctx()
    ctx.reuse_grace_s = 1.0
    assert run("rotation_once", ctx).passed
    forked = h.op("replay", 1.5, 200, token_id="r1", new_token_id="r9", probe="replayed")
    late = h.op("replay", 5, 200, token_id="r1", new_token_id="r2", probe="replayed")
    ctx = h.ctx()
    ctx.reuse_grace_s = 1.0
    assert run("rotation_once", ctx).evidence == [forked.id, late.id]


# -- reuse_revokes_family ----------------------------------------------------------------------------------


def test_the_successor_presented_after_a_rejected_replay_must_be_rejected() -> None:
    h = H()
    h.op("replay", 1, 401, error="token_reused", token_id="r1", family="f1", probe="replayed")
    h.op("me", 1.1, 401, error="token_revoked", token_id="a2", family="f1", probe="after_reuse")
    assert run("reuse_revokes_family", h.ctx()).passed
    successor = h.op("refresh", 1.2, 200, token_id="r2", family="f1", probe="after_reuse")
    assert run("reuse_revokes_family", h.ctx()).evidence == [successor.id]


# -- no_false_rejections ----------------------------------------------------------------------------------


def test_token_revoked_for_a_session_nobody_revoked_is_a_false_rejection() -> None:
    h = H()
    login(h, 0, "f1")
    lost = h.op("refresh", 2, 401, error="token_revoked", token_id="r-f1", family="f1")
    assert run("no_false_rejections", h.ctx()).evidence == [lost.id]


def test_token_revoked_after_a_revocation_certain_or_possible_is_legitimate() -> None:
    h = H()
    login(h, 0, "f1", client=0)
    login(h, 0, "f2", client=1)
    login(h, 0, "f3", client=2)
    h.op("logout_all", 1, 200, family="f1", revoked_user="alice", client=0)
    h.op("refresh", 2, 401, error="token_revoked", family="f2", client=1)
    h.op("replay", 2.5, 401, error="token_reused", family="f3", probe="replayed", client=2)
    h.op("me", 3, 401, error="token_revoked", family="f3", client=2)
    assert run("no_false_rejections", h.ctx()).passed
    h2 = H()
    login(h2, 0, "g1")
    h2.op("logout", 1, None, family="g1")  # no answer: the revocation may have landed
    h2.op("me", 2, 401, error="token_revoked", family="g1")
    assert run("no_false_rejections", h2.ctx()).passed


def test_a_session_issued_just_before_a_crash_may_be_lost_within_the_declared_window() -> None:
    h = H()
    login(h, 4.5, "f1")
    h.windows.append(
        __import__("authchaos.record.windows", fromlist=["FaultWindow"]).FaultWindow(
            "kill", "kill", "process", 5, 1, 5 * 10**9, 6 * 10**9
        )
    )
    h.op("refresh", 7, 401, error="token_revoked", family="f1")
    assert not run("no_false_rejections", h.ctx()).passed
    assert run("no_false_rejections", h.ctx(revocation_loss_window_s=1.0)).passed


# -- kinds_and_lifetimes -----------------------------------------------------------------------------------


def test_cross_kind_and_expired_tokens_must_be_rejected_even_degraded() -> None:
    h = H()
    h.op("cross_kind", 1, 401, probe="access_at_refresh")
    h.op("expired_token", 1, 401, probe="expired")
    assert run("kinds_and_lifetimes", h.ctx()).passed
    confused = h.op("cross_kind", 2, 200, probe="refresh_at_me", degraded=True)
    stale = h.op("expired_token", 3, 200, probe="expired")
    result = run("kinds_and_lifetimes", h.ctx())
    assert result.evidence == [confused.id, stale.id] and "expired" in result.summary
    assert not run("kinds_and_lifetimes", H().ctx()).applicable


# -- availability -----------------------------------------------------------------------------------------


def test_a_login_without_an_answer_breaks_the_policy() -> None:
    h = H()
    h.op("login", 1, 200)
    assert run("degradation_policy", h.ctx()).passed
    hung = h.op("login", 2, None, error="client_timeout")
    assert run("degradation_policy", h.ctx()).evidence == [hung.id]


def test_a_probes_rejection_is_not_a_recovery() -> None:
    h = H()
    h.fault("blackhole", 1, 2)
    for i in range(12):
        h.op("recheck_revoked", 2.1 + i * 0.01, 401, probe="revoked")
    result = run("recovery", h.ctx(recovery_max_s=1))
    assert not result.passed, "twelve rejected probes say nothing about whether the service recovered"
    assert not run("clients_recover", h.ctx()).passed
    for i in range(12):
        h.op("me", 2.5 + i * 0.01, 200)
    assert run("recovery", h.ctx(recovery_max_s=1)).passed


def test_too_little_history_fails() -> None:
    h = H()
    h.op("me", 1, 200)
    ctx = h.ctx()
    ctx.min_ops = 6
    assert not run("enough_history", ctx).passed
    ctx.min_ops = 1
    assert run("enough_history", ctx).passed


def test_a_token_issued_for_longer_than_configured_breaks_lifetimes() -> None:
    h = H()
    h.op("login", 1, 200, access_ttl_s=900, refresh_ttl_s=604_800)
    assert run("kinds_and_lifetimes", h.ctx()).passed
    long_lived = h.op("refresh", 2, 200, access_ttl_s=604_800, refresh_ttl_s=604_800)
    result = run("kinds_and_lifetimes", h.ctx())
    assert result.evidence == [long_lived.id] and "access token issued for 604800s" in result.summary


def test_a_legacy_refresh_token_exchanged_twice_is_a_double_rotation() -> None:
    h = H()
    h.op("legacy_refresh", 1, 200, token_id="lg-1", new_token_id="n1", new_family="f1")
    h.op("legacy_refresh", 3, 401, token_id="lg-1", family="f1", error="token_reused", probe="replayed")
    assert run("rotation_once", h.ctx()).passed
    again = h.op("legacy_refresh", 4, 200, token_id="lg-1", new_token_id="n2", new_family="f2", probe="replayed")
    assert run("rotation_once", h.ctx()).evidence == [again.id]


def test_a_blacklisted_token_without_ids_accepted_is_caught_by_its_probe() -> None:
    h = H()
    h.op("blacklist_legacy", 1, 200)
    h.op("legacy_refresh", 1.1, 401, error="token_revoked", probe="revoked")
    assert run("revocations_stick", h.ctx()).passed
    leak = h.op("legacy_refresh", 2, 200, probe="revoked")
    assert run("revocations_stick", h.ctx()).evidence == [leak.id]
    assert run("revocations_hold_while_healthy", h.ctx()).evidence == [leak.id]


def test_a_logout_all_without_an_answer_makes_every_session_of_the_user_maybe_revoked() -> None:
    h = H()
    login(h, 0, "mine", client=0)
    login(h, 0, "theirs", client=1)
    h.op("logout_all", 1, None, family="mine", revoked_user="alice", client=0)
    h.op("refresh", 2, 401, error="token_revoked", family="theirs", client=1)
    assert run("no_false_rejections", h.ctx()).passed
    h.op("refresh", 3, 200, family="theirs", client=1)
    assert run("revocations_stick", h.ctx()).passed, "an unknown outcome never proves a violation"
