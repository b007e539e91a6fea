"""The one way every driver judges a history: the scenario's checks, then known findings marked as such."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from authchaos.checks.context import CheckContext, CheckResult, EffectiveSettings
from authchaos.checks.expectations import Expectations
from authchaos.checks.registry import CHECKERS
from authchaos.record.history import History
from authchaos.record.windows import FaultWindow

REVOKING = ("logout", "logout_all", "blacklist")
# What a check needs the service to have: at least one of these contract operations. A contract that declares
# none of them makes the check "not applicable", by name: never a pass over what was never tried.
NEEDS: dict[str, tuple[str, ...]] = {
    "revocations_stick": REVOKING,
    "revocations_hold_while_healthy": REVOKING,
    "exposure_window": REVOKING,
    "acknowledged_revocations_lost": REVOKING,
    "rotation_once": ("refresh",),
    "reuse_revokes_family": ("refresh",),
    "double_rotation_across_failover": ("refresh",),
    "kinds_and_lifetimes": ("me",),
    "legacy_corpus": ("refresh", "me"),
    "outage_sessions_survive": ("refresh",),
    "users_stay_apart": ("refresh",),
}


# The workload operations that are a check's only witness: skipped, by name (the contract lacks what they need),
# a check the scenario must judge is "not applicable", never a failure of the service.
WITNESSED_BY: dict[str, tuple[str, ...]] = {
    "sessions_end_on_time": ("outlive_session",),
    "logins_throttled": ("guess_password",),
    "accounts_follow_directory": ("retire_account",),
}


def _absent(name: str, declared: list[str] | None) -> CheckResult | None:
    needs = NEEDS.get(name, ())
    if declared is None or not needs or any(op in declared for op in needs):
        return None
    return CheckResult(name, True, f"not applicable: the contract declares no {' or '.join(needs)}", applicable=False)


def _unwitnessed(name: str, skipped: Mapping[str, list[str]]) -> str | None:
    """Why a check has no witness: every operation that witnesses it was skipped (the service lacks what it needs)."""
    witnesses = WITNESSED_BY.get(name, ())
    if not witnesses or not all(w in skipped for w in witnesses):
        return None
    return "; ".join(f"its witness {w} was skipped (the service has no {', '.join(skipped[w])})" for w in witnesses)


def run_checks(ctx: CheckContext, names: list[str], declared: list[str] | None = None) -> list[CheckResult]:
    results = []
    for name in names:
        started = time.perf_counter()
        result = _absent(name, declared) or CHECKERS[name](ctx)
        result.seconds = round(time.perf_counter() - started, 4)
        results.append(result)
    return results


def judge(
    history: History,
    windows: list[FaultWindow],
    expect: Expectations,
    settings: EffectiveSettings,
    steady: dict[str, Any] | None = None,
    corpus: list[Any] | None = None,
    *,
    names: list[str] | None = None,
    min_ops: int = 0,
    declared: list[str] | None = None,
    skipped: Mapping[str, list[str]] | None = None,
) -> list[CheckResult]:
    """``declared``: the operations the service's contract declares (None: all of them); ``skipped``: the workload
    operations skipped, by name, with what the service lacked for each."""
    ctx = CheckContext(
        history.ops,
        windows,
        expect,
        reuse_grace_s=settings.reuse_grace_s,
        degraded_max_s=settings.degraded_max_s,
        steady=steady or {},
        corpus=corpus or [],
        min_ops=min_ops,
        access_ttl_s=settings.access_ttl_s,
        refresh_ttl_s=settings.refresh_ttl_s,
        session_max_s=settings.session_max_s,
        leeway_s=settings.leeway_s,
        login_budget=settings.login_budget,
        login_window_s=settings.login_window_s,
        shed_lag_s=settings.shed_lag_s,
    )
    results = run_checks(ctx, names if names is not None else expect.checks, declared)
    for result in results:
        unwitnessed = None if result.applicable else _unwitnessed(result.name, skipped or {})
        if unwitnessed:
            result.summary = f"not applicable: {unwitnessed}"
        elif not result.applicable and result.name in expect.must_judge and _absent(result.name, declared) is None:
            result.passed, result.applicable = False, True
            result.summary = f"the witness did not happen (expect.must_judge): {result.summary}"
        result.finding = not result.passed and result.name in expect.known_findings
    return results
