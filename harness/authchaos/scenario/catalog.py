"""Finding scenarios: by name, by tag, or by path, under a scenarios directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from authchaos.scenario.matrix import expand_matrix
from authchaos.scenario.schema import Scenario, ScenarioError, load_scenario, read_yaml


def load_scenarios(path: Path) -> list[Scenario]:
    """One scenario, or the scenarios a matrix file expands into."""
    data = read_yaml(path)
    if isinstance(data, dict) and "matrix" in data:
        return expand_matrix(data, str(path))
    return [load_scenario(path)]


CONTRACTS = "contracts"  # service contracts live beside the scenarios, in a folder of their own


def builtin_dir() -> Path:
    """The scenario files shipped in the package (in a checkout: the repository's ``scenarios/``)."""
    return Path(str(resources.files("authchaos.scenario_files")))


def user_dirs(extra: list[Path] | None = None) -> list[Path]:
    """``AUTHCHAOS_SCENARIOS_DIR`` (``os.pathsep``-separated) and ``--scenarios-dir``: added to the built-in ones."""
    env = [Path(p) for p in os.environ.get("AUTHCHAOS_SCENARIOS_DIR", "").split(os.pathsep) if p]
    return [*env, *(extra or [])]


@dataclass
class Catalog:
    roots: list[Path]
    scenarios: list[Scenario]
    broken: list[ScenarioError] = field(default_factory=list)  # files that do not load: reported, skipped

    @classmethod
    def load(cls, extra: Path | list[Path] | None = None) -> Catalog:
        """The built-in scenarios plus those under the user's directories (a name may be defined once)."""
        dirs = [builtin_dir(), *user_dirs([extra] if isinstance(extra, Path) else extra)]
        found: list[Scenario] = []
        broken: list[ScenarioError] = []
        seen_dirs: set[Path] = set()
        for root in dirs:
            if not root.is_dir():
                raise ScenarioError(f"no scenarios directory at {root}: fix --scenarios-dir or AUTHCHAOS_SCENARIOS_DIR")
            if root.resolve() in seen_dirs:
                continue
            seen_dirs.add(root.resolve())
            for path in sorted(root.rglob("*.yaml")):
                if not path.name.startswith("_") and CONTRACTS not in path.relative_to(root).parts:
                    try:
                        found.extend(load_scenarios(path))
                    except ScenarioError as exc:  # one bad file must not block every other scenario
                        broken.append(exc)
        seen: dict[str, str] = {}
        for s in found:
            if s.name in seen:
                raise ScenarioError(f"{s.source}: scenario name {s.name!r} is already used by {seen[s.name]}")
            seen[s.name] = s.source or ""
        return cls(dirs, found, broken)

    def tags(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.scenarios:
            for t in s.tags:
                counts[t] = counts.get(t, 0) + 1
        return dict(sorted(counts.items()))

    def select(self, selectors: list[str]) -> list[Scenario]:
        """Each selector is a scenario name, a tag, or a path to a YAML file; none selects every scenario, and
        then a file that does not load is an error (it was asked for), not a file to skip."""
        if not selectors:
            if self.broken:
                raise self.broken[0]
            return list(self.scenarios)
        chosen: list[Scenario] = []
        for sel in selectors:
            path = Path(sel)
            if sel.endswith((".yaml", ".yml")) or path.is_file():
                matches = load_scenarios(path)
            else:
                matches = [s for s in self.scenarios if s.name == sel or sel in s.tags]
            if not matches:
                tags = [t for t in self.tags() if ":" not in t]  # fault:/path: tags are many; list shows them
                unreadable = (
                    f"; {len(self.broken)} file(s) could not be read, first: {self.broken[0]}" if self.broken else ""
                )
                raise ScenarioError(
                    f"no scenario or tag named {sel!r}: see 'authchaos list' (tags: {', '.join(tags) or 'none'})"
                    + unreadable
                )
            chosen.extend(m for m in matches if m.name not in {c.name for c in chosen})
        return chosen
