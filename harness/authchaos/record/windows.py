"""Fault windows as they happened, in the history's monotonic clock: what the checkers judge against.

The timeline writes them; the history, the checkers and the reports read them, and need nothing of the
fault classes or the nemesis to do so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOSSY_KINDS: tuple[str, ...] = ("kill", "restart", "flush")  # may lose writes acknowledged since the last fsync
# Targets of faults during which Redis still answers: Redis refusing a command or answering late (within the command
# timeout), the service's own maintenance or stall.
NOT_AN_OUTAGE: tuple[str, ...] = ("command", "slow", "maintenance", "stall")
# Kinds during which nothing the service sends reaches Redis or comes back: an answer that needs Redis is impossible
UNREACHABLE_KINDS: tuple[str, ...] = ("blackhole", "down", "kill", "drop_requests")


@dataclass
class FaultWindow:
    """What really happened to one fault, in monotonic ns (comparable with the history)."""

    name: str
    kind: str
    target: str
    planned_at_s: float
    planned_for_s: float | None
    start_ns: int | None = None
    end_ns: int | None = None
    skipped: str | None = None
    error: str | None = None
    whole: bool = True  # every connection affected (toxicity 1); a partial fault lets some requests through
    stop_sent_ns: int | None = None  # when the stop was sent: the fault may have ended any time after it

    @property
    def completed(self) -> bool:
        """It ran and ended (a skipped or never-started fault has no window to judge)."""
        return self.start_ns is not None and self.end_ns is not None

    def span(self) -> Span | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        stop_sent = self.end_ns if self.stop_sent_ns is None else self.stop_sent_ns
        return Span(self.name, self.kind, self.target, self.start_ns, self.end_ns, self.whole, stop_sent)


@dataclass(frozen=True)
class Span:
    """A fault that ran and ended: what the checkers judge against."""

    name: str
    kind: str
    # network, slow (Redis late, not down), process, replicated, service, stall (the service paused), command
    # (Redis refusing) or maintenance (a cleanup)
    target: str
    start_ns: int
    end_ns: int
    whole: bool = True
    stop_sent_ns: int | None = None  # None: end_ns (the fault surely lasted until then only as far as this)

    @property
    def surely_until_ns(self) -> int:
        """The last moment the fault was certainly still on: its stop was sent then (end_ns is when it returned)."""
        return self.end_ns if self.stop_sent_ns is None else self.stop_sent_ns


@dataclass
class TimelineResult:
    windows: list[FaultWindow] = field(default_factory=list)
    rollback: list[str] = field(default_factory=list)
    rollback_error: str | None = None

    @property
    def skipped(self) -> list[FaultWindow]:
        return [w for w in self.windows if w.skipped]
