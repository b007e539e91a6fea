"""The Redis topology names (no process management: the scenario model imports this)."""

from __future__ import annotations

from typing import Literal

TopologyKind = Literal["single", "sentinel", "cluster"]
TOPOLOGY_KINDS: tuple[TopologyKind, ...] = ("single", "sentinel", "cluster")
