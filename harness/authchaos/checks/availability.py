"""Availability checkers: no server errors, the degradation policy, recovery, clients coming back."""

from __future__ import annotations

import bisect
from collections.abc import Callable

from authchaos.checks.context import MAX_EVIDENCE, CheckContext, CheckResult
from authchaos.checks.registry import checker
from authchaos.record.history import Op
from authchaos.record.protocol import SHED_ERROR
from authchaos.record.windows import UNREACHABLE_KINDS

RECOVERY_STREAK = 10
AUTHENTICATED = ("me", "refresh", "login", "oauth_login")


def _answered_well(op: Op) -> bool:
    return op.status is not None and op.status < 500 and not op.degraded


@checker()
def no_server_errors(ctx: CheckContext) -> CheckResult:
    """5xx other than the policy's 503s with Retry-After (store_unavailable, or overloaded: shedding) is a bug."""
    bad = [
        op
        for op in ctx.ops
        if op.status is not None
        and op.status >= 500
        and not op.shed
        and not (op.status == 503 and op.error == "store_unavailable" and op.retry_after)
    ]
    shed = sum(op.shed for op in ctx.ops)
    codes = sorted({f"{op.status} {op.error or ''}".strip() for op in bad})
    result = CheckResult.from_violations(
        "no_server_errors",
        bad,
        "no 5xx besides 503 store_unavailable or overloaded, with Retry-After",
        "{n} responses were server errors: " + ", ".join(codes),
    )
    if shed:
        result.summary += f" ({shed} shed as 503 overloaded)"
        result.details["shed"] = shed
    return result


@checker(load=False)
def no_hung_requests(ctx: CheckContext) -> CheckResult:
    """Every request gets an answer before the client gives up: in an outage a service fails fast (503
    store_unavailable) or degrades, it never holds the caller until its timeout (a Redis client without
    command timeouts, retrying forever, does exactly that). Probes are judged by the steady-state check."""
    hung = [op for op in ctx.ops if op.status is None and op.error == "client_timeout" and op.probe is None]
    by_op: dict[str, int] = {}
    for op in hung:
        by_op[op.op] = by_op.get(op.op, 0) + 1
    during = sum(not ctx.healthy(op) for op in hung)
    return CheckResult.from_violations(
        "no_hung_requests",
        hung,
        "every request was answered before the client's timeout",
        "{n} requests got no answer before the client's timeout ("
        + ", ".join(f"{n}x {name}" for name, n in sorted(by_op.items()))
        + f"; {during} of them during or just after a fault): a service must fail fast or degrade, not hang",
        by_op=by_op,
    )


def _in_flight(ops: list[Op]) -> Callable[[Op], int]:
    """How many requests were in progress when an operation started (itself included)."""
    starts = sorted(o.start_ns for o in ops)
    ends = sorted(o.end_ns for o in ops)
    return lambda op: bisect.bisect_right(starts, op.start_ns) - bisect.bisect_right(ends, op.start_ns)


def _held_back(ops: list[Op], bound_s: float) -> Callable[[Op], bool]:
    """Whether a request in progress when ``op`` started had been held at least ``bound_s``: evidence from outside
    that the service was behind then (a loop that late delays every request it holds)."""
    bound_ns = int(bound_s * 1e9)
    slow = sorted((o.start_ns, o.end_ns) for o in ops if o.status is not None and o.end_ns - o.start_ns >= bound_ns)
    starts = [s for s, _ in slow]

    def held(op: Op) -> bool:
        return any(end >= op.start_ns for _, end in slow[: bisect.bisect_right(starts, op.start_ns)])

    return held


def _shed_violation(
    ctx: CheckContext, op: Op, in_flight: Callable[[Op], int], held_back: Callable[[Op], bool]
) -> str | None:
    """Beyond capacity "busy, retry later" is the right answer, where a degraded accept or a store error is
    not; below it a shed is a service refusing work it could do (or hiding an outage behind "overloaded").
    Saturated, as the service itself defines it: at least ``shed_min_inflight`` requests in flight, or its loop
    late by ``AUTHCHAOS_SHED_LAG_S`` (one huge batch can do that alone), seen as a request held that long."""
    floor = ctx.expect.shed_min_inflight
    if floor is None:
        return "shed (503 overloaded) where no overload was expected"
    if in_flight(op) < floor and not held_back(op):
        return (
            f"shed (503 overloaded) with fewer than {floor} requests in flight and none held "
            f"{ctx.shed_lag_s * 1000:.0f} ms"
        )
    return None


def _declared(ctx: CheckContext, op: Op) -> bool:
    """A scenario's status rule allows this answer for this operation and phase (a 503 where writes cannot be made
    durable, say): then it is the policy, not a degradation."""
    phase = op.phase.split(":")[0]
    if op.status != 503 or op.degraded:  # a rule allows statuses, never a degraded accept
        return False
    return any(r.op == op.op and r.phase in ("any", phase) and op.status in r.allowed for r in ctx.expect.status)


def _policy_violation(ctx: CheckContext, op: Op) -> str | None:
    """Why one answer breaks the degradation policy, or None (sheds are judged by ``_shed_violation``)."""
    if op.op in ("login", "oauth_login") and op.status is not None and op.status >= 500 and not _declared(ctx, op):
        return "login without fallback tokens"
    if op.op in ("login", "oauth_login") and op.status is None and not ctx.service_down(op):
        return "login got no answer (it must fall back, not hang)"
    if ctx.healthy(op) and (op.status == 503 or op.degraded) and not _declared(ctx, op):
        return "degraded while Redis was healthy"
    if op.degraded:
        grace_ns = int(ctx.expect.recovery_max_s * 1e9)
        window_ns = int((ctx.degraded_max_s + 1.0) * 1e9)
        inside = any(
            w.start_ns <= op.end_ns <= w.end_ns + grace_ns and op.start_ns - w.start_ns <= window_ns
            for w in ctx.completed_windows
        )
        if not inside:
            return f"degraded accept beyond the {ctx.degraded_max_s:g}s window"
    if op.op == "me" and op.status == 200 and op.probe is None and _past_window_unreachable(ctx, op):
        return f"accepted past the {ctx.degraded_max_s:g}s degraded window while Redis was unreachable"
    return None


def _past_window_unreachable(ctx: CheckContext, op: Op) -> bool:
    """``op`` was sent more than the degraded window (plus a second: the service starts counting at its first
    failed command) into a fault that lets nothing reach Redis (all connections: toxicity 1), and answered before
    its stop was sent: an accept then is neither a lookup nor allowed degraded, degraded header or not."""
    window_ns = int((ctx.degraded_max_s + 1.0) * 1e9)
    return any(
        w.kind in UNREACHABLE_KINDS
        and w.whole
        and op.start_ns - w.start_ns > window_ns
        and op.end_ns <= w.surely_until_ns
        for w in ctx.completed_windows
    )


def _status_violations(ctx: CheckContext) -> list[tuple[Op, str]]:
    """Answers outside the statuses a scenario allows per operation and phase."""
    out = []
    for rule in ctx.expect.status:
        for op in ctx.ops:
            if op.op != rule.op or op.probe is not None or op.status is None:
                continue
            phase = op.phase.split(":")[0]
            if rule.phase in ("any", phase) and op.status not in rule.allowed:
                out.append((op, f"{op.op} {phase}: {op.status} not in {rule.allowed}"))
    return out


@checker()
def degradation_policy(ctx: CheckContext) -> CheckResult:
    """Logins always answer; degraded accepts only during an outage, within the window; none when healthy."""
    in_flight, held_back = _in_flight(ctx.ops), _held_back(ctx.ops, ctx.shed_lag_s)

    def judge(op: Op) -> str | None:
        return _shed_violation(ctx, op, in_flight, held_back) if op.shed else _policy_violation(ctx, op)

    found = [(op, why) for op in ctx.ops if (why := judge(op)) is not None]
    found += _status_violations(ctx)
    reasons: dict[str, int] = {}
    for _, why in found:
        reasons[why] = reasons.get(why, 0) + 1
    summary = "; ".join(f"{n}x {why}" for why, n in reasons.items())
    return CheckResult.from_violations(
        "degradation_policy",
        [op for op, _ in found],
        "every answer matched the degradation policy for its phase",
        summary or "",
        reasons=reasons,
    )


@checker()
def command_errors_fail_closed(ctx: CheckContext) -> CheckResult:
    """Redis refusing a command (NOPERM, WRONGTYPE) is a fault of the deployment, not an outage: while it refuses,
    the service answers 503 where it needs the command and serves the rest from Redis. A degraded answer then,
    or in the recovery time after, means it took an error reply for a dead Redis (opened its breaker, entered
    degraded mode). Undeclared 503s for what Redis still answers are degradation_policy's."""
    spans = [w for w in ctx.completed_windows if w.target == "command"]
    grace_ns = int(ctx.expect.recovery_max_s * 1e9)
    inside = [
        op
        for op in ctx.ops
        if op.status is not None and any(w.start_ns <= op.start_ns and op.end_ns <= w.end_ns for w in spans)
    ]
    refused = [op for op in inside if op.status == 503 and not op.shed]
    if not refused:
        why = "no request met a command Redis refused (command_denied)" if spans else "no command_denied fault ran"
        return CheckResult("command_errors_fail_closed", True, f"not applicable: {why}", applicable=False)
    near = [
        op
        for op in ctx.ops
        if op.degraded and any(w.start_ns <= op.end_ns and op.start_ns <= w.end_ns + grace_ns for w in spans)
    ]
    return CheckResult.from_violations(
        "command_errors_fail_closed",
        near,
        f"{len(refused)} requests refused (503) while Redis refused a command; {len(inside) - len(refused)} "
        "others answered from Redis, none degraded",
        "{n} degraded answers while Redis answered, refusing a command: an error reply was taken for an outage",
        refused=len(refused),
    )


@checker()
def overload_is_not_an_outage(ctx: CheckContext) -> CheckResult:
    """Redis slow but answering (a ``slow_redis`` fault) while the service is saturated: beyond its capacity it
    sheds (503 overloaded, Retry-After) and keeps serving the rest from Redis. A degraded answer or a 503
    store_unavailable then, or in the recovery time after, means it took its own lateness (or its shedding) for
    a dead Redis: opened its breaker, entered degraded mode. It judges only runs where something was shed while
    Redis was slow: a service never saturated says nothing about how it sheds."""
    spans = [w for w in ctx.completed_windows if w.target == "slow"]
    if not spans:
        return CheckResult(
            "overload_is_not_an_outage", True, "not applicable: no slow_redis fault ran", applicable=False
        )
    grace_ns = int(ctx.expect.recovery_max_s * 1e9)

    def near(op: Op) -> bool:
        return any(w.start_ns <= op.end_ns and op.start_ns <= w.end_ns + grace_ns for w in spans)

    shed = [op for op in ctx.ops if op.shed and any(w.start_ns <= op.start_ns <= w.end_ns for w in spans)]
    if not shed:
        why = "nothing was shed while Redis was slow: the service was never saturated"
        return CheckResult("overload_is_not_an_outage", True, f"not applicable: {why}", applicable=False)
    outage_answers = [
        op
        for op in ctx.ops
        if op.probe is None and near(op) and (op.degraded or (op.status == 503 and op.error != SHED_ERROR))
    ]
    served = sum(op.status is not None and op.status < 500 and not op.degraded for op in ctx.ops if near(op))
    return CheckResult.from_violations(
        "overload_is_not_an_outage",
        outage_answers,
        f"{len(shed)} requests shed (503 overloaded) while Redis was slow; {served} others answered from Redis, "
        "none degraded",
        "{n} degraded or store_unavailable answers while Redis was slow but answering: the service took its own "
        "saturation for an outage",
        shed=len(shed),
    )


def _recovery_after(ops: list[Op], end_ns: int) -> tuple[Op | None, Op | None]:
    """The first success after a fault, and the start of the first steady run of good answers (probes,
    whose 'success' is a rejection, say nothing about recovery and are left out)."""
    after = [o for o in ops if o.start_ns >= end_ns and o.probe is None]
    first = next((o for o in after if o.outcome == "ok" and not o.degraded), None)
    streak, candidate = 0, None
    for o in after:
        streak = streak + 1 if _answered_well(o) else 0
        if streak == 1:
            candidate = o
        if streak >= RECOVERY_STREAK:
            return first, candidate
    return first, None


@checker()
def recovery(ctx: CheckContext) -> CheckResult:
    """After each fault: time to the first success and to a steady run of good answers, both bounded."""
    rows, evidence = [], []
    ordered = sorted(ctx.ops, key=lambda o: o.start_ns)
    for w in ctx.completed_windows:
        first, steady_at = _recovery_after(ordered, w.end_ns)
        first_s = None if first is None else (first.end_ns - w.end_ns) / 1e9
        steady_s = None if steady_at is None else max(0.0, (steady_at.end_ns - w.end_ns) / 1e9)
        ok = first_s is not None and steady_s is not None and steady_s <= ctx.expect.recovery_max_s
        if not ok:
            evidence.extend([o.id for o in ordered if o.start_ns >= w.end_ns and o.probe is None][:5])
        rows.append({"fault": w.name, "first_success_s": first_s, "steady_s": steady_s, "ok": ok})
    if not rows:
        return CheckResult(
            "recovery", True, "no faults ran: nothing to recover from", details={"faults": []}, applicable=False
        )
    worst = max((r["steady_s"] or float("inf")) for r in rows)
    bound = ctx.expect.recovery_max_s
    if not all(r["ok"] for r in rows):
        missing = [str(r["fault"]) for r in rows if r["steady_s"] is None]
        why = (
            f"no steady recovery after {', '.join(missing)} before the workload ended"
            if missing
            else f"steady recovery took {worst:.2f}s, over the {bound:g}s bound"
        )
        return CheckResult("recovery", False, why, evidence[:MAX_EVIDENCE], {"faults": rows})
    return CheckResult("recovery", True, f"recovered within {worst:.2f}s (bound {bound:g}s)", details={"faults": rows})


@checker(load=False)
def clients_recover(ctx: CheckContext) -> CheckResult:
    """Every client authenticates again once the last fault is over."""
    ends = [w.end_ns for w in ctx.completed_windows if w.end_ns is not None]
    since = max(ends) if ends else 0
    clients = sorted({o.client for o in ctx.ops})
    lost = [
        c
        for c in clients
        if not any(
            o.client == c
            and o.start_ns >= since
            and o.op in AUTHENTICATED
            and o.outcome == "ok"
            and not o.degraded
            and o.probe is None
            for o in ctx.ops
        )
    ]
    if not lost:
        return CheckResult("clients_recover", True, f"all {len(clients)} clients authenticated after the faults")
    last = [max((o for o in ctx.ops if o.client == c), key=lambda o: o.start_ns).id for c in lost]
    return CheckResult(
        "clients_recover",
        False,
        f"{len(lost)} of {len(clients)} clients never authenticated again after the faults",
        last[:MAX_EVIDENCE],
        {"clients": lost},
    )


@checker()
def unknown_outcomes(ctx: CheckContext) -> CheckResult:
    """Listed, never counted as passes: writes whose effect the client could not know."""
    unknown = [o for o in ctx.ops if o.outcome == "unknown"]
    summary = f"{len(unknown)} operations with unknown outcome (listed, not counted as successes)"
    return CheckResult(
        "unknown_outcomes",
        True,
        summary,
        [o.id for o in unknown[:MAX_EVIDENCE]],
        {"count": len(unknown)},
        applicable=bool(unknown),
    )
