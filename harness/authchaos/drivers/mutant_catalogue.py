"""The mutant catalogue: read, validated and applied to a temporary copy of the reference service."""

from __future__ import annotations

import py_compile
import shutil
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from authchaos.sut.reference_service import source_dir

CATALOGUE = Path(str(resources.files("authchaos.drivers"))) / "catalogue.yaml"
PACKAGE = "authchaos_reference"


class MutantError(Exception):
    """A catalogue entry does not apply (its text is gone from the source); the message names it and the fix."""


class Mutant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    invariant: str = Field(min_length=1, description="the property of the service this bug breaks")
    file: str = Field(
        pattern=r"^[a-z_]+\.py$", description="a module of the reference service (reference_impl/authchaos_reference/)"
    )
    find: str = Field(min_length=1)
    replace: str
    why: str = Field(min_length=1, description="how a real regression like this would come about")


def load_catalogue(path: Path = CATALOGUE) -> list[Mutant]:
    try:
        raw = yaml.safe_load(path.read_text())
        mutants = [Mutant.model_validate(m) for m in raw["mutants"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise MutantError(f"{path}: not a mutant catalogue ({type(exc).__name__}: {exc})") from None
    except ValidationError as exc:
        raise MutantError(f"{path}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    ids = [m.id for m in mutants]
    if len(ids) != len(set(ids)):
        raise MutantError(f"{path}: mutant ids must be unique")
    return mutants


def apply(mutant: Mutant, into: Path, source: Path | None = None) -> Path:
    """Copy the reference service's package under ``into`` and apply the mutant there; returns the directory
    for PYTHONPATH."""
    source = source or source_dir()
    target = into / PACKAGE
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / mutant.file
    text = path.read_text() if path.exists() else ""
    count = text.count(mutant.find)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        raise MutantError(
            f"mutant {mutant.id}: its text is {where} in {PACKAGE}/{mutant.file}; "
            "update find/replace in harness/authchaos/drivers/catalogue.yaml"
        )
    path.write_text(text.replace(mutant.find, mutant.replace))
    try:
        py_compile.compile(str(path), doraise=True)
    except py_compile.PyCompileError as exc:
        raise MutantError(f"mutant {mutant.id}: the mutated {mutant.file} does not compile: {exc.msg}") from None
    return into
