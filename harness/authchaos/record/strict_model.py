"""The base of every file format the harness reads (scenarios, fault specs, workloads, expectations):
unknown keys are errors, so a typo is never silently a default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def field_path(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as a reader writes it: ``faults[0].fault.ms``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
