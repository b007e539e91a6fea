"""Fault injection: the fault model, the real and embedded nemeses, and the timeline."""

from harness.faults.model import FAULT_KINDS, Fault
from harness.faults.nemesis import FaultNotSupported, Nemesis, RealNemesis, injected

__all__ = ["FAULT_KINDS", "Fault", "FaultNotSupported", "Nemesis", "RealNemesis", "injected"]
