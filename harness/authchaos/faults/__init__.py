"""Fault injection: the fault model, the real and embedded nemeses, and the timeline.

Only the model is imported eagerly: the nemeses pull in process management and
Toxiproxy's client, which the history, the checkers and the reports never need.
"""

from __future__ import annotations

from typing import Any

from authchaos.faults.fault_spec import FAULT_KINDS, Fault

__all__ = ["FAULT_KINDS", "Fault", "FaultNotSupported", "Nemesis", "RealNemesis", "injected"]


def __getattr__(name: str) -> Any:
    if name in ("FaultNotSupported", "Nemesis", "RealNemesis", "injected"):
        from authchaos.faults import nemesis

        return getattr(nemesis, name)
    raise AttributeError(f"module 'authchaos.faults' has no attribute {name!r}")
