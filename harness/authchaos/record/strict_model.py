"""The base of every file format the harness reads (scenarios, fault specs, workloads, expectations):
unknown keys are errors, so a typo is never silently a default."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def field_path(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as a reader writes it: ``faults[0].fault.ms``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def yaml_text(path: Path, text: str, error: type[Exception]) -> object:
    """``text`` (read from ``path``) as YAML; a syntax error is one ``error`` naming the file and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise error(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
