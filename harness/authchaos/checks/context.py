"""What every checker gets and returns. Checkers are pure functions of the history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from authchaos.record.history import Op
from authchaos.record.windows import NOT_AN_OUTAGE, FaultWindow, Span

if TYPE_CHECKING:
    from authchaos.checks.expectations import Expectations

MAX_EVIDENCE = 25
SERVICE_CUT_NS = 1_000_000_000  # a request this young when its service was killed was cut short, not hung


@dataclass(frozen=True)
class EffectiveSettings:
    """The service settings the checkers must know, read from the one environment the service got."""

    reuse_grace_s: float = 0.0
    degraded_max_s: float = 30.0
    access_ttl_s: float = 900.0
    refresh_ttl_s: float = 604_800.0
    session_max_s: float = 2_592_000.0  # a session's absolute lifetime from its login, however often it rotates
    leeway_s: float = 5.0  # clock-skew leeway: a token is accepted up to exp + leeway
    shed_lag_s: float = 0.1  # the service sheds when its event loop is this late (sustained)
    login_budget: int = 5  # failed logins of one account from one address before the throttle refuses (0: off)
    login_window_s: float = 900.0  # the throttle's fixed window, from the first failure
    users_reload_s: float = 1.0  # how often each process re-reads its users file

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EffectiveSettings:
        return cls(
            reuse_grace_s=float(env.get("AUTHCHAOS_REUSE_GRACE_S", 0)),
            degraded_max_s=float(env.get("AUTHCHAOS_DEGRADED_MAX_S", 30)),
            access_ttl_s=float(env.get("AUTHCHAOS_ACCESS_TTL_S", 900)),
            refresh_ttl_s=float(env.get("AUTHCHAOS_REFRESH_TTL_S", 604_800)),
            session_max_s=float(env.get("AUTHCHAOS_SESSION_MAX_S", 2_592_000)),
            leeway_s=float(env.get("AUTHCHAOS_LEEWAY_S", 5)),
            shed_lag_s=float(env.get("AUTHCHAOS_SHED_LAG_S", 0.1)),
            login_budget=int(env.get("AUTHCHAOS_LOGIN_MAX_FAILURES_PER_CLIENT", 5)),
            login_window_s=float(env.get("AUTHCHAOS_LOGIN_CLIENT_WINDOW_S", 900)),
            users_reload_s=float(env.get("AUTHCHAOS_USERS_RELOAD_S", 1)),
        )


@dataclass
class CheckResult:
    name: str
    passed: bool
    summary: str
    evidence: list[int] = field(default_factory=list)  # op ids that show the failure (or the finding)
    details: dict[str, Any] = field(default_factory=dict)
    finding: bool = False  # failed, but the scenario declares it a known finding (reported, not failing)
    applicable: bool = True  # False: the history held nothing this check could judge (shown "not applicable")
    seconds: float = 0.0  # how long judging took (junit's testcase time)

    @classmethod
    def from_violations(cls, name: str, violations: list[Op], ok: str, bad: str, **details: Any) -> CheckResult:
        if not violations:
            return cls(name, True, ok, details=details)
        return cls(name, False, bad.format(n=len(violations)), [v.id for v in violations[:MAX_EVIDENCE]], details)


@dataclass
class CheckContext:
    ops: list[Op]
    windows: list[FaultWindow]
    expect: Expectations
    reuse_grace_s: float = 0.0
    degraded_max_s: float = 30.0
    steady: dict[str, Any] = field(default_factory=dict)  # "before"/"after" -> SteadyStateReport dicts
    corpus: list[Any] = field(default_factory=list)  # legacy_corpus.CorpusResult, when the scenario replays one
    min_ops: int = 0  # fewer recorded operations than this (the workload's clients) is too little to judge
    access_ttl_s: float = 900.0  # the lifetimes the service is configured to issue
    refresh_ttl_s: float = 604_800.0
    session_max_s: float = 2_592_000.0
    leeway_s: float = 5.0
    login_budget: int = 5
    login_window_s: float = 900.0
    shed_lag_s: float = 0.1  # a loop this late justifies a shed (the service's own rule, AUTHCHAOS_SHED_LAG_S)

    @property
    def completed_windows(self) -> list[Span]:
        """Faults that ran and ended (skipped ones never touched the service)."""
        return [s for w in self.windows if (s := w.span()) is not None]

    def service_down(self, op: Op) -> bool:
        """``op`` was sent while the service itself was down (killed, restarting), or at most a second before it was
        killed: no answer is then no fault of the service's Redis handling. One that had hung longer is."""
        return any(
            w.target == "service" and w.start_ns - SERVICE_CUT_NS <= op.start_ns <= w.end_ns
            for w in self.completed_windows
        )

    def healthy(self, op: Op) -> bool:
        """True when no fault was active and the last one ended more than recovery_max_s before ``op``. Redis
        refusing a command (target ``command``) is no outage: it answers, so the service must not degrade; nor is
        the service's own maintenance beside the traffic (``maintenance``: a cleanup), nor its own stall
        (``stall``: the process paused while Redis answered)."""
        grace_ns = int(self.expect.recovery_max_s * 1e9)
        return not any(
            op.end_ns >= w.start_ns and op.start_ns <= w.end_ns + grace_ns
            for w in self.completed_windows
            if w.target not in NOT_AN_OUTAGE
        )
