"""What asynchronous replication can lose, measured Jepsen-style from the history alone.

The checkers here know nothing about which fault ran or how: a lost revocation is a revocation answered
200 followed by an accept of that token or family (the revocation model of ``revocations.py``); a lost
session is a legitimate token the service turned away (``tokens.false_rejection``); a double rotation is
one refresh token exchanged for two successors. Each result carries its ``figures`` (run.json, the HTML),
attributed to the fault window that followed the write it lost.
"""

from __future__ import annotations

from typing import Any

from authchaos.checks.context import MAX_EVIDENCE, CheckContext, CheckResult
from authchaos.checks.registry import checker
from authchaos.checks.revocations import PRESENTS_TOKEN, Revocations, in_loss_window
from authchaos.checks.token_safety import false_rejection, first_exchanges, refresh_exchanges
from authchaos.record.history import Op
from authchaos.record.windows import Span

WRITES = ("refresh", "logout", "logout_all", "blacklist_batch", "blacklist_session")


def _fault_after(windows: list[Span], at_ns: int) -> str:
    """The fault that can have lost a write acknowledged at ``at_ns``: the first that was active or began after it,
    else the last before it (a split brain heals when its window ends; the old primary is demoted later)."""
    ordered = sorted(windows, key=lambda w: w.start_ns)
    for w in ordered:
        if w.end_ns >= at_ns:
            return w.name
    return ordered[-1].name if ordered else "no fault"


def _fault_before(windows: list[Span], at_ns: int) -> str:
    """The fault a loss noticed at ``at_ns`` comes from: the last that began before it."""
    earlier = [w for w in windows if w.start_ns <= at_ns]
    return max(earlier, key=lambda w: w.start_ns).name if earlier else "no fault"


def _count(names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in names:
        out[name] = out.get(name, 0) + 1
    return out


def _lost_entry(key: str, acked_ns: int, op: Op, t0: int, windows: list[Span]) -> dict[str, Any]:
    """One lost revocation, Jepsen-style: what was revoked, when it was acknowledged, when it was accepted again."""
    return {
        "revoked": key,
        "acknowledged_s": round((acked_ns - t0) / 1e9, 3),
        "accepted_s": round((op.start_ns - t0) / 1e9, 3),
        "op": op.id,
        "fault": _fault_after(windows, acked_ns),
    }


@checker()
def acknowledged_revocations_lost(ctx: CheckContext) -> CheckResult:
    """No revocation answered 200 is lost: counts (and names, by token id or family) every acknowledged
    revocation whose token or session was accepted afterwards outside degraded mode, per fault (a declared
    ``revocation_loss_window_s`` before a crash excuses what it covers, as for ``revocations_stick``)."""
    r = Revocations.from_ops(ctx.ops)
    spans, loss_s = ctx.completed_windows, ctx.expect.revocation_loss_window_s
    if not r.tokens and not r.families:
        return CheckResult("acknowledged_revocations_lost", True, "no revocation was acknowledged", applicable=False)
    lost: dict[str, tuple[int, Op]] = {}  # revoked id or family -> (acknowledged at, first accept after it)
    for op in sorted(ctx.ops, key=lambda o: o.start_ns):
        if op.status != 200 or op.op not in PRESENTS_TOKEN or op.degraded:
            continue
        for key, acked in (
            (op.token_id, r.tokens.get(op.token_id or "")),
            (op.family, r.families.get(op.family or "")),
        ):
            if not key or acked is None or key in lost:
                continue
            if op.start_ns > acked and not in_loss_window(spans, loss_s, acked):
                lost[key] = (acked, op)
    t0 = min((o.start_ns for o in ctx.ops), default=0)
    which = [_lost_entry(k, at, op, t0, ctx.completed_windows) for k, (at, op) in lost.items()]
    acknowledged = len(r.tokens) + len(r.families)
    figures = {"acknowledged": acknowledged, "lost": len(lost), "lost_per_fault": _count([w["fault"] for w in which])}
    if not lost:
        ok = f"none of {acknowledged} acknowledged revocations was lost"
        return CheckResult("acknowledged_revocations_lost", True, ok, details={"figures": figures})
    evidence = [op.id for _, op in list(lost.values())[:MAX_EVIDENCE]]
    summary = f"{len(lost)} of {acknowledged} acknowledged revocations were lost (accepted again)"
    return CheckResult("acknowledged_revocations_lost", False, summary, evidence, {"figures": figures, "lost": which})


@checker()
def double_rotation_across_failover(ctx: CheckContext) -> CheckResult:
    """No refresh token is exchanged for two different successors across a replicated fault (failover, kill or
    partition of the primary): the rotation written to the old primary was lost and the token rotated again."""
    spans = [w for w in ctx.completed_windows if w.target == "replicated"]
    exchanges = refresh_exchanges(ctx.ops)
    if not spans or not exchanges:
        return CheckResult(
            "double_rotation_across_failover", True, "no refresh exchange around a replicated fault", applicable=False
        )
    bad: list[Op] = []
    for uses in exchanges.values():
        first = uses[0]
        for again in uses[1:]:
            straddles = any(first.start_ns <= w.end_ns and again.end_ns >= w.start_ns for w in spans)
            if again.new_token_id != first.new_token_id and straddles:
                bad.append(again)
    figures = {
        "exchanged": len(exchanges),
        "rotated_twice": len({o.token_id for o in bad}),
        "per_fault": _count([_fault_before(spans, o.start_ns) for o in bad]),
    }
    return CheckResult.from_violations(
        "double_rotation_across_failover",
        bad,
        f"{len(exchanges)} refresh tokens, none rotated twice across a fault",
        "{n} refresh exchanges rotated a token a second time across a replicated fault",
        figures=figures,
    )


@checker()
def sessions_lost(ctx: CheckContext) -> CheckResult:
    """No session the service issued is lost: counts the sessions (families) whose legitimate holder was then
    turned away (revoked, reused or unknown when nobody revoked or rotated it), per fault."""
    exchanged, revocations = first_exchanges(ctx.ops), Revocations.from_ops(ctx.ops)
    issued = {op.new_family for op in ctx.ops if op.status == 200 and op.new_family}
    if not issued:
        return CheckResult("sessions_lost", True, "no session was issued", applicable=False)
    rejected = [op for op in ctx.ops if false_rejection(op, ctx, revocations, exchanged)]
    first: dict[str, Op] = {}
    for op in sorted(rejected, key=lambda o: o.start_ns):
        first.setdefault(op.family or f"token:{op.token_id}", op)
    spans = ctx.completed_windows
    figures = {
        "sessions": len(issued),
        "lost": len(first),
        "lost_per_fault": _count([_fault_before(spans, op.start_ns) for op in first.values()]),
    }
    return CheckResult.from_violations(
        "sessions_lost",
        list(first.values()),
        f"none of {len(issued)} sessions was lost",
        "{n} sessions were lost (their holder was turned away without a revocation)",
        figures=figures,
        families=sorted(first)[:MAX_EVIDENCE],
    )


def _unwritable_s(ops: list[Op], span: Span, until_ns: int) -> float:
    """From the first write refused or unanswered in ``span`` to the next write answered 200 (0: none refused);
    a 401 proves nothing was written, so only a 200 ends the gap."""
    writes = sorted(
        (o for o in ops if o.op in WRITES and o.probe is None and span.start_ns <= o.start_ns < until_ns),
        key=lambda o: o.start_ns,
    )
    failed = next((o for o in writes if o.start_ns <= span.end_ns and (o.status is None or o.status >= 500)), None)
    if failed is None:
        return 0.0
    ok = next((o for o in writes if o.start_ns > failed.start_ns and o.status == 200), None)
    return ((ok.start_ns if ok else until_ns) - failed.start_ns) / 1e9


@checker()
def writable_primary(ctx: CheckContext) -> CheckResult:
    """How long writes (refresh, logout, blacklist) found no writable primary during each fault: from the first
    refused or unanswered write to the next that succeeded; fails only past ``expect.unwritable_max_s``."""
    spans = sorted(ctx.completed_windows, key=lambda w: w.start_ns)
    if not spans or not any(o.op in WRITES for o in ctx.ops):
        return CheckResult("writable_primary", True, "no write during a fault", applicable=False)
    end = max(o.end_ns for o in ctx.ops)
    per_fault: dict[str, float] = {}
    for i, span in enumerate(spans):
        until = spans[i + 1].start_ns if i + 1 < len(spans) else end + 1
        per_fault[f"{i + 1}:{span.name}"] = round(_unwritable_s(ctx.ops, span, until), 3)
    worst = max(per_fault.values())
    bound = ctx.expect.unwritable_max_s
    figures = {"unwritable_s_per_fault": per_fault, "max_s": worst}
    summary = f"longest time without a writable primary {worst:.3f}s" + (f" (bound {bound:g}s)" if bound else "")
    return CheckResult("writable_primary", bound is None or worst <= bound, summary, details={"figures": figures})
