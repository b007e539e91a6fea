"""Token-safety checkers: revocations stick, rotation is one-shot, reuse kills the family."""

from __future__ import annotations

from harness.checks.base import CheckContext, CheckResult
from harness.checks.registry import checker
from harness.history import Op

PRESENTS_TOKEN = ("me", "refresh", "replay", "logout", "recheck_revoked")


def _revocations(ops: list[Op]) -> tuple[dict[str, int], dict[str, int]]:
    """token id -> when its revocation was acknowledged; family -> same (logout, blacklist, reuse)."""
    tokens: dict[str, int] = {}
    families: dict[str, int] = {}
    for op in ops:
        if op.status == 200:
            for tid in op.revoked_ids:
                tokens.setdefault(tid, op.end_ns)
            for fam in op.revoked_families:
                families.setdefault(fam, op.end_ns)
        if op.error == "token_reused" and op.family:
            families.setdefault(op.family, op.end_ns)
    return tokens, families


LOSSY_FAULTS = ("kill", "restart", "flush")


def _may_be_lost(ctx: CheckContext, revoked_at: int) -> bool:
    """Acknowledged within the declared loss window (the AOF fsync interval) before a crash."""
    loss_ns = int(ctx.expect.revocation_loss_window_s * 1e9)
    return loss_ns > 0 and any(
        w.kind in LOSSY_FAULTS and w.start_ns - loss_ns <= revoked_at <= w.start_ns for w in ctx.completed_windows
    )


def _accepted_after_revocation(ctx: CheckContext) -> list[tuple[Op, int]]:
    tokens, families = _revocations(ctx.ops)
    hits = []
    for op in ctx.ops:
        if op.status != 200 or op.op not in PRESENTS_TOKEN:
            continue
        revoked_at = min(
            [t for t in (tokens.get(op.token_id or ""), families.get(op.family or "")) if t is not None], default=None
        )
        if revoked_at is not None and op.start_ns > revoked_at and not _may_be_lost(ctx, revoked_at):
            hits.append((op, revoked_at))
    return hits


@checker()
def revocations_stick(ctx: CheckContext) -> CheckResult:
    """A token whose revocation got a 200 is never accepted afterwards (outside declared degraded mode)."""
    bad = [op for op, _ in _accepted_after_revocation(ctx) if not op.degraded]
    tokens, families = _revocations(ctx.ops)
    return CheckResult.from_violations(
        "revocations_stick", bad,
        f"no revoked token accepted ({len(tokens)} tokens and {len(families)} sessions revoked)",
        "{n} requests were accepted with a token whose revocation had been acknowledged",
        revoked_tokens=len(tokens), revoked_sessions=len(families),
    )  # fmt: skip


@checker()
def exposure_window(ctx: CheckContext) -> CheckResult:
    """How long after its revocation a revoked token was still accepted in degraded mode, against the bound."""
    hits = [(op, at) for op, at in _accepted_after_revocation(ctx) if op.degraded]
    worst = max(((op.end_ns - at) / 1e9 for op, at in hits), default=0.0)
    bound = ctx.expect.exposure_max_s
    if worst <= bound and (hits == [] or bound > 0):
        return CheckResult(
            "exposure_window", True, f"exposure {worst:.3f}s (bound {bound:g}s)", details={"max_s": worst}
        )
    summary = f"revoked tokens were accepted up to {worst:.3f}s after revocation (bound {bound:g}s)"
    return CheckResult("exposure_window", False, summary, [op.id for op, _ in hits[:25]], {"max_s": worst})


@checker()
def rotation_once(ctx: CheckContext) -> CheckResult:
    """Each refresh token is exchanged at most once (twice only inside a configured grace window)."""
    by_token: dict[str, list[Op]] = {}
    for op in ctx.ops:
        if op.op in ("refresh", "replay") and op.status == 200 and op.token_id:
            by_token.setdefault(op.token_id, []).append(op)
    bad: list[Op] = []
    grace_ns = int(ctx.reuse_grace_s * 1e9)
    for uses in by_token.values():
        uses.sort(key=lambda o: o.start_ns)
        if len(uses) == 2 and grace_ns and uses[1].start_ns - uses[0].end_ns <= grace_ns:
            continue
        bad.extend(uses[1:])
    return CheckResult.from_violations(
        "rotation_once", bad, f"{len(by_token)} refresh tokens, each exchanged once",
        "{n} refresh exchanges reused a token that had already been rotated",
    )  # fmt: skip


@checker()
def reuse_revokes_family(ctx: CheckContext) -> CheckResult:
    """After token_reused, nothing of that family is accepted again."""
    reused = {op.family: op.end_ns for op in ctx.ops if op.error == "token_reused" and op.family}
    bad = [
        op for op in ctx.ops
        if op.status == 200 and op.family in reused and op.start_ns > reused[op.family]
        and op.op in PRESENTS_TOKEN and not op.degraded
    ]  # fmt: skip
    return CheckResult.from_violations(
        "reuse_revokes_family", bad, f"{len(reused)} reuse detections, each family stayed revoked",
        "{n} requests succeeded with a family that reuse detection had revoked",
    )  # fmt: skip


@checker()
def no_false_rejections(ctx: CheckContext) -> CheckResult:
    """The service never rejects a token it issued and the client legitimately holds.

    Catches the 'Invalid token type for refresh' class, and "reuse" reported for a
    refresh token that was never exchanged (a retry after a lost answer).
    """
    exchanged_before: dict[str, int] = {}
    for op in sorted(ctx.ops, key=lambda o: o.start_ns):
        if op.op == "refresh" and op.status == 200 and op.token_id:
            exchanged_before.setdefault(op.token_id, op.end_ns)
    bad = [
        op for op in ctx.ops
        if op.status == 401 and op.probe is None and op.op in ("refresh", "me", "logout", "legacy_refresh")
        and (
            op.error in ("invalid_token", "token_expired")
            or (op.error == "token_reused" and op.op == "refresh"
                and exchanged_before.get(op.token_id or "", op.start_ns) >= op.start_ns)
        )
    ]  # fmt: skip
    messages = sorted({f"{op.op}: {op.message}" for op in bad})
    return CheckResult.from_violations(
        "no_false_rejections", bad, "no token issued by the service was rejected as invalid",
        "{n} tokens issued by the service were rejected as invalid (" + "; ".join(messages[:3]) + ")",
        messages=messages,
    )  # fmt: skip
