"""The base of every file format the harness reads (scenarios, fault specs, workloads, expectations):
unknown keys are errors, so a typo is never silently a default."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


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


def vocabulary(model: type[BaseModel]) -> set[str]:
    """Every key a file of ``model`` may use, at any depth (unions and lists included): what a typo is near."""
    seen: set[type[BaseModel]] = set()
    names: set[str] = set()

    def walk(tp: Any) -> None:
        for arg in get_args(tp):
            walk(arg)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen:
            seen.add(tp)
            for name, info in tp.model_fields.items():
                names.add(info.alias or name)
                walk(info.annotation)

    walk(model)
    return names


def validation_message(
    exc: ValidationError, model: type[BaseModel], source: str, skip: frozenset[str] = frozenset()
) -> str:
    """One line for a file that does not validate: an unknown key first (it usually causes the rest: a typo'd
    ``msec`` also leaves ``ms`` missing), with a "did you mean" from the format's own keys; ``skip``: location
    parts that are not keys (a tagged union's tag)."""
    errors = exc.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    err = unknown[0] if unknown else errors[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in skip))
    message = str(err["msg"])
    if err["type"] == "extra_forbidden" and loc:
        key = str(loc[-1])
        close = difflib.get_close_matches(key, sorted(vocabulary(model) - {key}), n=1, cutoff=0.6)
        message = f"unknown key {key!r}" + (f": did you mean {close[0]!r}?" if close else " (remove it)")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {field_path(loc)}: {message}{more}"
