"""The one way every driver judges a history: the scenario's checks, then known findings marked as such."""

from __future__ import annotations

from typing import Any

from authchaos.checks.context import CheckContext, CheckResult, EffectiveSettings
from authchaos.checks.expectations import Expectations
from authchaos.checks.registry import CHECKERS
from authchaos.record.history import History
from authchaos.record.windows import FaultWindow


def run_checks(ctx: CheckContext, names: list[str]) -> list[CheckResult]:
    return [CHECKERS[name](ctx) for name in names]


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
) -> list[CheckResult]:
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
    )
    results = run_checks(ctx, names if names is not None else expect.checks)
    for result in results:
        result.finding = not result.passed and result.name in expect.known_findings
    return results
