"""What must hold after a run: a scenario's ``expect:`` section, owned by the checks that read it.

Operation names in SLOs and status rules are plain strings here; the scenario, which also knows the
workload's operations, checks them (the checks know nothing of the workload).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from authchaos.checks.check_names import check_names
from authchaos.record.strict_model import StrictModel


def _known_checks(checks: list[str]) -> list[str]:
    unknown = sorted(set(checks) - set(check_names()))
    if unknown:
        raise ValueError(f"unknown check {', '.join(unknown)}; known: {', '.join(check_names())}")
    return checks


CheckNames = Annotated[list[str], AfterValidator(_known_checks)]


class Slo(StrictModel):
    op: str = Field(description="a workload operation (the scenario checks the name)")
    phase: Literal["before", "during", "after", "healthy", "any"] = Field(
        "any", description="healthy: no fault active and none ended within recovery_max_s"
    )
    p50_ms: float | None = Field(None, gt=0)
    p95_ms: float | None = Field(None, gt=0)
    p99_ms: float | None = Field(None, gt=0)
    max_error_ratio: float | None = Field(None, ge=0, le=1, description="share of ops not ok (503s count)")


class StatusRule(StrictModel):
    """Which HTTP statuses an operation may get in a phase (the degradation policy, made explicit)."""

    op: str = Field(description="a workload operation (the scenario checks the name)")
    phase: Literal["before", "during", "after", "any"] = "during"
    allowed: list[int]


class Expectations(StrictModel):
    checks: CheckNames = Field(default_factory=lambda: list(check_names()))
    slo: list[Slo] = []
    status: list[StatusRule] = []
    recovery_max_s: float = Field(10.0, gt=0)
    exposure_max_s: float = Field(0.0, ge=0)
    revocation_loss_window_s: float = Field(
        0.0, ge=0, description="revocations acknowledged this long before a kill may be lost (AOF fsync interval)"
    )
    unwritable_max_s: float | None = Field(
        None, gt=0, description="writable_primary fails past this many seconds without a writable primary per fault"
    )
    must_judge: CheckNames = Field(
        default_factory=list,
        description="checks this scenario exists to witness: one with nothing to judge fails the run (the witness "
        "did not happen), instead of showing not applicable",
    )
    known_findings: CheckNames = Field(
        default_factory=list, description="checks expected to fail here: reported as findings, not failures"
    )
    shed_min_inflight: int | None = Field(
        None,
        ge=1,
        description="explicit shedding (503 overloaded) is correct only with at least this many requests "
        "in flight (load runs); unset: a scenario's few clients never justify it",
    )
