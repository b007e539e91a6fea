"""One Toxiproxy toxic as data: the faults declare them, the Toxiproxy client sends them (light: the scenario
schema imports it through the fault classes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToxicSpec:
    """One Toxiproxy toxic, in Toxiproxy 2.12's own terms."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }
