"""The names of the registered checkers, in report order, with no dependency on what a check reads.

``expect.checks`` in a scenario is validated against these, and the checks' context carries that
expectation: keeping the names apart from the typed registry keeps that circle open.
"""

from __future__ import annotations

# Report order: the experiment as a whole, whether the service spoke its contract, availability, token safety,
# accounts, replication losses, latency.
MODULES = tuple(
    f"authchaos.checks.{m}"
    for m in ("experiment_checks", "conformance", "availability", "token_safety", "accounts", "replication", "latency")
)
_REGISTERED: list[tuple[str, str, bool]] = []  # (name, module, also judges load runs), in registration order


def register_name(name: str, module: str, load: bool) -> None:
    if all(n != name for n, _, _ in _REGISTERED):
        _REGISTERED.append((name, module, load))


def check_names(*, load_only: bool = False) -> tuple[str, ...]:
    """Every registered checker, by module (``MODULES``, others last), then in the order written."""
    ranked = sorted(
        enumerate(_REGISTERED),
        key=lambda ir: (MODULES.index(ir[1][1]) if ir[1][1] in MODULES else len(MODULES), ir[0]),
    )
    return tuple(name for _, (name, _, load) in ranked if load or not load_only)
