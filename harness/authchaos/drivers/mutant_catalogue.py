"""Mutant catalogues: read, validated and applied to a temporary copy of a service's code.

Two kinds of code take mutants: the reference service's package (the built-in catalogue), and a service started
from a contract (the catalogue its ``mutants:`` names, files relative to the contract's folder). Either way the
tree itself is never touched, and a mutant whose text is gone is an error, never a kill.
"""

from __future__ import annotations

import py_compile
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from authchaos.record.service_contract import ServiceContract
from authchaos.sut.reference_service import code_in_use, source_dir

CATALOGUE = Path(str(resources.files("authchaos.drivers"))) / "catalogue.yaml"
PACKAGE = "authchaos_reference"
NOT_COPIED = ("__pycache__", "node_modules", ".git", ".venv", "*.pyc")
JS = (".js", ".cjs", ".mjs")
CHECK_TIMEOUT_S = 30


class MutantError(Exception):
    """A catalogue entry does not apply (its text is gone from the source); the message names it and the fix."""


class Mutant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    invariant: str = Field(min_length=1, description="the property of the service this bug breaks")
    file: str = Field(min_length=1, description="a file of the service's code, relative to its root")
    find: str = Field(min_length=1)
    replace: str
    why: str = Field(min_length=1, description="how a real regression like this would come about")
    witness: str | None = Field(
        None, description="the gate scenario written to catch this class of bug: prove runs it first for this mutant"
    )

    @field_validator("file")
    @classmethod
    def _inside(cls, file: str) -> str:
        path = PurePosixPath(file)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("a path inside the service's code (relative, no '..')")
        return file


@dataclass(frozen=True)
class MutantTarget:
    """Whose code the mutants change: the reference package (``contract`` None) or a contract's service folder."""

    catalogue: Path
    contract: ServiceContract | None = None

    @property
    def where(self) -> str:
        return PACKAGE if self.contract is None else str(self.contract.root)


@dataclass(frozen=True)
class Applied:
    """A mutated copy: run the reference service from ``code_dir``, or the contract service from ``contract``."""

    code_dir: Path | None = None
    contract: Path | None = None


def target_for(contract: ServiceContract | None) -> MutantTarget:
    """The reference service's catalogue, or the one a command service's contract names (errors say the fix)."""
    if contract is None or contract.kind == "reference":
        return MutantTarget(CATALOGUE)
    if contract.mutants is None:
        raise MutantError(
            f"{contract.source}: declares no mutants: add `mutants: FILE` (a catalogue of find/replace bugs "
            "in your service's code, like examples/node-service/mutants.yaml) to prove it"
        )
    if contract.kind != "command":
        raise MutantError(f"{contract.source}: mutants need a service the harness starts (kind: command)")
    return MutantTarget(contract.root / contract.mutants, contract)


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


def _mutate(mutant: Mutant, root: Path, catalogue: Path) -> Path:
    path = root / mutant.file
    inside = path.resolve().is_relative_to(root.resolve())
    linked = any(
        (root / Path(*Path(mutant.file).parts[: i + 1])).is_symlink() for i in range(len(Path(mutant.file).parts))
    )
    if not inside or linked:  # a linked dependency (node_modules, .venv) leads back into the real tree
        raise MutantError(
            f"mutant {mutant.id}: {mutant.file} is not the service's own code (a linked dependency or outside "
            f"its folder); mutants change only the copy: fix file in {catalogue}"
        )
    text = path.read_text() if path.is_file() else ""
    count = text.count(mutant.find)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        raise MutantError(
            f"mutant {mutant.id}: its text is {where} in {mutant.file}; update find/replace in {catalogue}"
        )
    path.write_text(text.replace(mutant.find, mutant.replace))
    return path


def _compiles(mutant: Mutant, path: Path) -> None:
    """A mutant that does not even load is a typo in the catalogue, not a bug the gate should find."""
    if path.suffix == ".py":
        try:
            py_compile.compile(str(path), doraise=True)
        except py_compile.PyCompileError as exc:
            raise MutantError(f"mutant {mutant.id}: the mutated {mutant.file} does not compile: {exc.msg}") from None
    elif path.suffix in JS and (node := shutil.which("node")):
        done = subprocess.run(
            [node, "--check", str(path)], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["syntax error"])[-1]
            raise MutantError(f"mutant {mutant.id}: the mutated {mutant.file} does not parse: {why}")


def _copy_service(contract: ServiceContract, into: Path) -> Path:
    """The service's folder without installed dependencies, which are linked back (never mutated, never copied)."""
    root = contract.root
    target = into / root.name
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    for heavy in ("node_modules", ".venv"):
        if (root / heavy).is_dir():
            (target / heavy).symlink_to(root / heavy, target_is_directory=True)
    return target


def apply(mutant: Mutant, into: Path, target: MutantTarget | None = None, source: Path | None = None) -> Applied:
    """Copy the target's code under ``into`` and apply the mutant there."""
    target = target or MutantTarget(CATALOGUE)
    if target.contract is None:
        package = into / PACKAGE
        shutil.copytree(source or source_dir(), package, ignore=shutil.ignore_patterns(*NOT_COPIED))
        _compiles(mutant, _mutate(mutant, package, target.catalogue))
        loaded = code_in_use(into)
        if loaded != package:
            raise MutantError(f"mutant {mutant.id}: the service would import {loaded}, not the mutated copy")
        return Applied(code_dir=into)
    copy = _copy_service(target.contract, into)
    _compiles(mutant, _mutate(mutant, copy, target.catalogue))
    return Applied(contract=copy / Path(str(target.contract.source)).name)
