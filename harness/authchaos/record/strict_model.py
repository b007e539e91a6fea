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


def _models(tp: Any) -> list[type[BaseModel]]:
    """The models a field's annotation can hold (through Optional, unions, lists, dicts and Annotated)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in get_args(tp) for m in _models(arg)]


def keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> set[str] | None:
    """The keys allowed where ``loc`` (a validation error's location, its last part the offending key) points:
    the fields of the models that can sit there; None when the location cannot be followed."""
    current: list[type[BaseModel]] = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # a list index: the same models
        following = [m for c in current if part in c.model_fields for m in _models(c.model_fields[part].annotation)]
        if not following:
            tagged = [c for c in current if part in {str(f.default) for f in c.model_fields.values()}]
            if not tagged:
                return None
            following = tagged  # a tagged union's tag in the location: keep the models
        current = following
    return {info.alias or name for m in current for name, info in m.model_fields.items()}


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
        allowed = keys_at(model, tuple(err["loc"])) or set()
        close = difflib.get_close_matches(key, sorted(allowed - {key}), n=1, cutoff=0.6)
        message = f"unknown key {key!r}" + (f": did you mean {close[0]!r}?" if close else " (remove it)")
        if allowed and not close:
            message += f"; allowed here: {', '.join(sorted(allowed))}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {field_path(loc)}: {message}{more}"
