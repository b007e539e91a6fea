"""Token-safety checkers: revocations stick, rotation is one-shot, reuse kills the family, no false rejections,
kinds and lifetimes hold. They judge access tokens, refresh tokens and whole families alike."""

from __future__ import annotations

from authchaos.checks.context import MAX_EVIDENCE, CheckContext, CheckResult
from authchaos.checks.registry import checker
from authchaos.checks.revocations import (
    PRESENTS_TOKEN,
    REFRESHES,
    Revocations,
    accepted_after_revocation,
    in_loss_window,
)
from authchaos.record.history import Op
from authchaos.record.windows import NOT_AN_OUTAGE, Span

# Refreshes with a token its client has never exchanged before: "reused" needs an earlier exchange.
FIRST_PRESENTATIONS = ("refresh", "held_refresh", "owner_refresh", "idle_refresh")
# Presentations of a token the client legitimately holds: a 401 to one of them needs a reason.
LEGITIMATE = ("refresh", "me", "logout", "legacy_refresh", "held_refresh", "owner_refresh", "idle_refresh")
MUST_REJECT = ("access_at_refresh", "refresh_at_me", "expired")
LOGINS = ("login", "oauth_login")


def _accepted_revoked(ctx: CheckContext) -> list[tuple[Op, int]]:
    return accepted_after_revocation(ctx.ops, ctx.completed_windows, ctx.expect.revocation_loss_window_s)


def _accepted_nameless(ctx: CheckContext) -> list[Op]:
    """Accepted probes of revoked tokens that carry no id to link them to their revocation (legacy shapes)."""
    return [o for o in ctx.ops if o.probe == "revoked" and o.status == 200 and not o.token_id and not o.family]


@checker()
def revocations_stick(ctx: CheckContext) -> CheckResult:
    """A token, refresh token or session whose revocation got a 200 is never accepted afterwards (outside
    declared degraded mode)."""
    bad = [op for op, _ in _accepted_revoked(ctx) if not op.degraded] + [
        o for o in _accepted_nameless(ctx) if not o.degraded
    ]
    r = Revocations.from_ops(ctx.ops)
    nameless = sum(1 for o in ctx.ops if o.probe == "revoked" and not o.token_id and not o.family)
    if not r.tokens and not r.families and not nameless:
        return CheckResult("revocations_stick", True, "no revocation was acknowledged", applicable=False)
    return CheckResult.from_violations(
        "revocations_stick",
        bad,
        f"no revoked token accepted ({len(r.tokens)} tokens and {len(r.families)} sessions revoked)",
        "{n} requests were accepted with a token or session whose revocation had been acknowledged",
        revoked_tokens=len(r.tokens),
        revoked_sessions=len(r.families),
    )


@checker()
def revocations_hold_while_healthy(ctx: CheckContext) -> CheckResult:
    """While Redis is healthy nothing revoked is accepted, degraded-flagged or not: a lost revocation or a
    Redis lookup that fails open shows here, apart from the degraded-mode exposure window."""
    bad = [op for op, _ in _accepted_revoked(ctx) if ctx.healthy(op)] + [
        o for o in _accepted_nameless(ctx) if ctx.healthy(o)
    ]
    return CheckResult.from_violations(
        "revocations_hold_while_healthy",
        bad,
        "no revoked token or session was accepted while Redis was healthy",
        "{n} revoked tokens or sessions were accepted while Redis was healthy",
    )


@checker()
def exposure_window(ctx: CheckContext) -> CheckResult:
    """How long after its revocation a revoked token was still accepted in degraded mode, against the bound."""
    hits = [(op, at) for op, at in _accepted_revoked(ctx) if op.degraded]
    worst = max(((op.end_ns - at) / 1e9 for op, at in hits), default=0.0)
    bound = ctx.expect.exposure_max_s
    if worst <= bound and (hits == [] or bound > 0):
        return CheckResult(
            "exposure_window", True, f"exposure {worst:.3f}s (bound {bound:g}s)", details={"max_s": worst}
        )
    summary = f"revoked tokens were accepted up to {worst:.3f}s after revocation (bound {bound:g}s)"
    return CheckResult("exposure_window", False, summary, [op.id for op, _ in hits[:MAX_EVIDENCE]], {"max_s": worst})


def _rotation_violations(uses: list[Op], grace_ns: int) -> list[Op]:
    """Beyond the first exchange, only presentations inside the grace window that got the same successor."""
    uses.sort(key=lambda o: o.start_ns)
    first = uses[0]
    return [
        u
        for u in uses[1:]
        if not (grace_ns and u.start_ns - first.end_ns <= grace_ns and u.new_token_id == first.new_token_id)
    ]


def refresh_exchanges(ops: list[Op]) -> dict[str, list[Op]]:
    """Every accepted exchange of each refresh token, in start order."""
    by_token: dict[str, list[Op]] = {}
    for op in sorted(ops, key=lambda o: o.start_ns):
        if op.op in REFRESHES and op.status == 200 and op.token_id:
            by_token.setdefault(op.token_id, []).append(op)
    return by_token


@checker()
def rotation_once(ctx: CheckContext) -> CheckResult:
    """Each refresh token is exchanged once; inside a configured grace window its immediate repeats get the
    same successor, never a second one."""
    by_token = refresh_exchanges(ctx.ops)
    if not by_token:
        return CheckResult("rotation_once", True, "no refresh token was exchanged", applicable=False)
    grace_ns = int(ctx.reuse_grace_s * 1e9)
    bad = [op for uses in by_token.values() for op in _rotation_violations(uses, grace_ns)]
    return CheckResult.from_violations(
        "rotation_once",
        bad,
        f"{len(by_token)} refresh tokens, each exchanged once",
        "{n} refresh exchanges rotated a token that had already been rotated",
    )


@checker()
def reuse_revokes_family(ctx: CheckContext) -> CheckResult:
    """After token_reused, nothing of that family is accepted again (the successor refresh token and the
    access tokens issued with it included)."""
    reused: dict[str, int] = {}
    for op in ctx.ops:
        if op.error == "token_reused" and op.family:
            reused[op.family] = min(op.end_ns, reused.get(op.family, op.end_ns))
    if not reused:
        return CheckResult("reuse_revokes_family", True, "no reuse was detected", applicable=False)
    bad = [
        op
        for op in ctx.ops
        if op.status == 200
        and op.family in reused
        and op.start_ns > reused[op.family]
        and op.op in PRESENTS_TOKEN
        and not op.degraded
    ]
    probed = sum(1 for op in ctx.ops if op.probe == "after_reuse")
    return CheckResult.from_violations(
        "reuse_revokes_family",
        bad,
        f"{len(reused)} reuse detections, each family stayed revoked ({probed} later presentations rejected)",
        "{n} requests succeeded with a family that reuse detection had revoked",
        families=len(reused),
    )


def first_exchanges(ops: list[Op]) -> dict[str, int]:
    """When each refresh token was first exchanged (its answer's end), by token id."""
    exchanged: dict[str, int] = {}
    for op in sorted(ops, key=lambda o: o.start_ns):
        if op.op in REFRESHES and op.status == 200 and op.token_id:
            exchanged.setdefault(op.token_id, op.end_ns)
    return exchanged


KILL_LANDS_NS = 100_000_000  # a request sent this soon after the kill was sent may still reach the old process


def cut_by_a_crash(ctx: CheckContext, op: Op) -> bool:
    """An earlier exchange of ``op``'s token was in flight when the service was killed (sent before the kill
    landed, unanswered): the dead process may have rotated it, and its memory of the rotation died with it, so
    the retry is reuse to the next one (README, "Known limits"). Unknown, not a false rejection. An exchange
    refused while the service was down never reached a process; one cut by a Redis fault has a process that saw
    it fail and must complete the rotation on the retry: neither is excused."""
    kills = [w.start_ns for w in ctx.completed_windows if w.target == "service"]
    return any(
        o.token_id == op.token_id
        and o.op in REFRESHES
        and o.status is None
        and o.start_ns < op.start_ns
        and any(o.start_ns <= k + KILL_LANDS_NS and o.end_ns >= k for k in kills)
        for o in ctx.ops
    )


def false_rejection(op: Op, ctx: CheckContext, revocations: Revocations, exchanged: dict[str, int]) -> bool:
    if op.status != 401 or op.probe is not None or op.op not in LEGITIMATE:
        return False
    if op.error in ("invalid_token", "token_expired"):
        return True
    # a session or rotation acknowledged just before a crash may be lost with the unsynced AOF tail
    lost = in_loss_window(
        ctx.completed_windows, ctx.expect.revocation_loss_window_s, revocations.refreshed.get(op.family or "", 0)
    )
    if op.error == "token_reused" and op.op in FIRST_PRESENTATIONS:
        never = exchanged.get(op.token_id or "", op.start_ns) >= op.start_ns
        return never and not lost and not cut_by_a_crash(ctx, op)
    if op.error == "token_revoked":
        return not revocations.maybe_revoked(op) and not lost
    return False


@checker()
def no_false_rejections(ctx: CheckContext) -> CheckResult:
    """The service never rejects a token it issued and the client legitimately holds: not as invalid or expired
    (the 'Invalid token type for refresh' class), not as reused when it was never exchanged, not as revoked
    when nobody revoked its session."""
    revocations, exchanged = Revocations.from_ops(ctx.ops), first_exchanges(ctx.ops)
    bad = [op for op in ctx.ops if false_rejection(op, ctx, revocations, exchanged)]
    messages = sorted({f"{op.op}: {op.error}: {op.message}" for op in bad})
    return CheckResult.from_violations(
        "no_false_rejections",
        bad,
        "no token issued by the service was wrongly rejected",
        "{n} tokens issued by the service were wrongly rejected (" + "; ".join(messages[:3]) + ")",
        messages=messages,
    )


def _overlived(ctx: CheckContext, op: Op) -> str | None:
    if op.access_ttl_s is not None and op.access_ttl_s > ctx.access_ttl_s:
        return f"an access token issued for {op.access_ttl_s}s (configured {ctx.access_ttl_s:g}s)"
    if op.refresh_ttl_s is not None and op.refresh_ttl_s > ctx.refresh_ttl_s:
        return f"a refresh token issued for {op.refresh_ttl_s}s (configured {ctx.refresh_ttl_s:g}s)"
    return None


SESSION_END_SLACK_NS = 500_000_000  # past a session's end + leeway by this much, nothing of it may be accepted


def _past_session_end(ctx: CheckContext) -> list[Op]:
    """Accepts of a session's tokens sent after its absolute end (``AUTHCHAOS_SESSION_MAX_S`` from the login that
    opened it, however often it rotated) + leeway: the session began when its login was answered at the latest."""
    began = {op.new_family: op.end_ns for op in ctx.ops if op.op in LOGINS and op.status == 200 and op.new_family}
    lasts_ns = int((ctx.session_max_s + ctx.leeway_s) * 1e9) + SESSION_END_SLACK_NS
    return [
        op
        for op in ctx.ops
        if op.status == 200 and op.op not in LOGINS and op.family in began and op.start_ns > began[op.family] + lasts_ns
    ]


@checker()
def kinds_and_lifetimes(ctx: CheckContext) -> CheckResult:
    """An access token is never a refresh token, a refresh token never an access token, an expired token never
    anything (in degraded mode too), and no token is issued for longer than its configured lifetime."""
    probes = [op for op in ctx.ops if op.probe in MUST_REJECT]
    issued = [op for op in ctx.ops if op.access_ttl_s is not None or op.refresh_ttl_s is not None]
    if not probes and not issued:
        return CheckResult(
            "kinds_and_lifetimes", True, "no token was issued or presented cross-kind or expired", applicable=False
        )
    bad = [op for op in probes if op.status == 200]
    reasons = sorted({str(op.probe) for op in bad})
    long_lived = [(op, why) for op in issued if (why := _overlived(ctx, op)) is not None]
    reasons += sorted({why for _, why in long_lived})
    return CheckResult.from_violations(
        "kinds_and_lifetimes",
        bad + [op for op, _ in long_lived],
        f"all {len(probes)} cross-kind and expired tokens were rejected; {len(issued)} pairs within their lifetimes",
        "{n} token kind or lifetime violations (" + "; ".join(reasons[:4]) + ")",
    )


@checker()
def sessions_end_on_time(ctx: CheckContext) -> CheckResult:
    """A session ends at its absolute lifetime (``AUTHCHAOS_SESSION_MAX_S`` from its login, + leeway), however
    often it rotated: nothing of it is accepted later. Judged on ``outlive_session``'s presentations just past the
    end (``session_ended``) and on every accept of a family whose login the run saw."""
    ended = [op for op in ctx.ops if op.probe == "session_ended" and op.status is not None]
    late = _past_session_end(ctx)
    if not ended and not late:
        why = "no session was presented past its absolute lifetime (outlive_session)"
        return CheckResult("sessions_end_on_time", True, f"not applicable: {why}", applicable=False)
    wrong = [op for op in ended if op.status == 200]
    wrong += [op for op in late if op not in wrong]
    return CheckResult.from_violations(
        "sessions_end_on_time",
        wrong,
        f"{len(ended)} presentations just past a session's {ctx.session_max_s:g}s absolute lifetime, all refused",
        "{n} accepted past the session's " + f"{ctx.session_max_s:g}s absolute lifetime (+ {ctx.leeway_s:g}s leeway)",
        ended=len(ended),
    )


def _redis_outages(ctx: CheckContext) -> list[Span]:
    return [w for w in ctx.completed_windows if w.target != "service" and w.target not in NOT_AN_OUTAGE]


def _during(op: Op, spans: list[Span]) -> bool:
    return any(w.start_ns <= op.start_ns and op.end_ns <= w.end_ns for w in spans)


@checker()
def outage_sessions_survive(ctx: CheckContext) -> CheckResult:
    """A session whose login was answered while Redis was failing (a fallback session) refreshes once every
    fault is over, on whichever process serves then: the issuing process killed first included (the "Invalid
    token type for refresh" class). Judged on the sessions set aside untouched (``held_session``)."""
    outages = _redis_outages(ctx)
    outage_families = {
        op.new_family
        for op in ctx.ops
        if op.op == "login" and op.status == 200 and op.new_family and _during(op, outages)
    }
    ends = [w.end_ns for w in ctx.completed_windows]
    after = max(ends, default=None)
    presented = [
        op
        for op in ctx.ops
        if op.op == "held_refresh"
        and op.family in outage_families
        and after is not None
        and op.start_ns > after
        and op.status is not None
        and op.status != 503
    ]
    if not presented:
        why = "no session opened during a Redis fault was refreshed after the faults (held_session)"
        return CheckResult("outage_sessions_survive", True, f"not applicable: {why}", applicable=False)
    revocations, exchanged = Revocations.from_ops(ctx.ops), first_exchanges(ctx.ops)
    bad = [
        op
        for op in presented
        if op.status != 200 and (op.status != 401 or false_rejection(op, ctx, revocations, exchanged))
    ]
    messages = sorted({f"{op.status} {op.error}: {op.message}" for op in bad})
    return CheckResult.from_violations(
        "outage_sessions_survive",
        bad,
        f"{len(presented)} sessions opened during the outage presented after it: "
        f"{sum(op.status == 200 for op in presented)} refreshed, the rest revoked since",
        "{n} sessions opened while Redis was failing could not refresh after it (" + "; ".join(messages[:3]) + ")",
        presented=len(presented),
    )


CROSS_USER_PROBES = ("foreign_subject", "not_admin")


@checker()
def users_stay_apart(ctx: CheckContext) -> CheckResult:
    """No user reaches another's session: a refresh token naming another user's session under this user's
    subject is refused, a non-admin's batch blacklist is refused, and a logout (with the other user's refresh
    token in the body) or a logout-all by one user leaves the other's session refreshable."""
    probes = [op for op in ctx.ops if op.probe in CROSS_USER_PROBES]
    owners = [op for op in ctx.ops if op.op == "owner_refresh" and op.status is not None and op.status != 503]
    if not probes and not owners:
        return CheckResult(
            "users_stay_apart", True, "no user acted on another's session (cross_user)", applicable=False
        )
    revocations, exchanged = Revocations.from_ops(ctx.ops), first_exchanges(ctx.ops)
    accepted = [op for op in probes if op.status == 200]
    lost = [op for op in owners if false_rejection(op, ctx, revocations, exchanged)]
    why = sorted({str(op.probe) for op in accepted}) + (["the victim's session ended"] if lost else [])
    return CheckResult.from_violations(
        "users_stay_apart",
        accepted + lost,
        f"{len(probes)} cross-user attempts refused, {len(owners)} victim sessions still refreshable",
        "{n} times one user reached another's session (" + "; ".join(why) + ")",
        attempts=len(probes),
        victims=len(owners),
    )
