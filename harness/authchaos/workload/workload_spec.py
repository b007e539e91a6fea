"""What the clients do: a scenario's ``workload:`` section, beside the operations it names."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from authchaos.record.strict_model import StrictModel
from authchaos.workload.operations import OPERATIONS


def _known_operation(name: str) -> str:
    if name not in OPERATIONS:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(OPERATIONS)}")
    return name


OpName = Annotated[str, AfterValidator(_known_operation)]


class Workload(StrictModel):
    clients: int = Field(4, ge=1, le=500)
    duration_s: float = Field(10.0, gt=0, le=3600)
    operations: int | None = Field(None, ge=1, description="stop after this many operations (bounded by duration_s)")
    rate_per_s: float | None = Field(None, gt=0, description="total request rate; none = closed loop with think time")
    think_time_ms: float = Field(20.0, ge=0)
    mix: dict[OpName, float] = Field(default_factory=lambda: {"me": 5.0, "refresh": 3.0, "login": 1.0})
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 100])
    request_timeout_s: float = Field(5.0, gt=0, le=120)

    @field_validator("mix")
    @classmethod
    def _positive(cls, mix: dict[str, float]) -> dict[str, float]:
        if not mix or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError("mix needs at least one operation with a positive weight")
        return mix

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        if not sizes or any(s < 1 or s > 10_000 for s in sizes):
            raise ValueError("batch_sizes must be between 1 and 10000")
        return sizes
