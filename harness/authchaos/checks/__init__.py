"""Checkers over a recorded history; each is a pure function ``(CheckContext) -> CheckResult``.

Importing this package registers every checker (see ``registry``), before anything reads the list.
"""

from __future__ import annotations

from authchaos.checks import (
    accounts,
    availability,
    conformance,
    experiment_checks,
    latency,
    replication,
    token_safety,
)
from authchaos.checks.check_names import check_names
from authchaos.checks.context import CheckContext, CheckResult, EffectiveSettings
from authchaos.checks.judge import judge, run_checks
from authchaos.checks.registry import CHECKERS, Checker, checker

REGISTERED = (accounts, availability, conformance, experiment_checks, latency, replication, token_safety)

__all__ = [
    "CHECKERS",
    "CheckContext",
    "CheckResult",
    "Checker",
    "EffectiveSettings",
    "check_names",
    "checker",
    "judge",
    "run_checks",
]
