"""The base of every file format the harness reads (scenarios, fault specs, workloads, expectations):
unknown keys are errors, so a typo is never silently a default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
