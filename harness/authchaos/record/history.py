"""The recorded history: every client operation, as Jepsen records it.

Times are monotonic nanoseconds (the same clock as fault windows). Tokens are
never stored, only their ``tokenId``/``family``: a report must not leak
credentials. An operation whose effect is unknown (a write that timed out)
is ``unknown``, never ``ok``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from authchaos.record.protocol import SHED_ERROR, Outcome
from authchaos.record.windows import FaultWindow


@dataclass
class Op:
    id: int
    client: int
    op: str
    start_ns: int
    end_ns: int = 0
    outcome: Outcome = "unknown"
    status: int | None = None
    error: str | None = None
    message: str | None = None
    degraded: bool = False
    retry_after: str | None = None
    token_id: str | None = None  # the token presented (refresh: the refresh token; me: the access token)
    family: str | None = None
    new_token_id: str | None = None  # refresh/login: the refresh token received
    new_family: str | None = None
    revoked_ids: list[str] = field(default_factory=list)  # acknowledged revocations (logout, blacklist)
    revoked_families: list[str] = field(default_factory=list)
    revoked_user: str | None = None  # logout-all: every session of this user issued before it
    user: str | None = None  # login-like ops: whose session ``new_family`` is
    access_ttl_s: int | None = None  # pair-issuing ops: exp - iat of the access token received
    refresh_ttl_s: int | None = None  # and of the refresh token
    probe: str | None = None  # set when this call presents a token that must be rejected (see PROBES)
    undeclared: str | None = None  # the answer matched nothing the service's contract declares (and why)
    phase: str = "before"

    @property
    def latency_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def shed(self) -> bool:
        """Refused as overload, explicitly: 503 ``overloaded`` with a Retry-After."""
        return self.status == 503 and self.error == SHED_ERROR and bool(self.retry_after)

    def as_dict(self) -> dict[str, Any]:
        """The row as written to run.json and JSONL histories (empty fields left out)."""
        d = asdict(self)
        return {k: v for k, v in d.items() if not (v is None or v is False or v == [])}

    @classmethod
    def from_row(cls, row: dict[str, Any], id: int | None = None) -> Op:
        """An op from a history row (``protocol.row`` or ``as_dict``); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known and v is not None}
        if id is not None:
            values["id"] = id
        values.setdefault("end_ns", values.get("start_ns", 0))
        return cls(**values)

    def update(self, row: dict[str, Any]) -> None:
        """Take the fields of a ``protocol.row`` (the exchange's outcome) onto this op."""
        for f in fields(self):
            if f.name in row and f.name not in ("id", "client", "op", "start_ns"):
                setattr(self, f.name, row[f.name])


@dataclass
class History:
    t0_ns: int
    ops: list[Op] = field(default_factory=list)
    windows: list[FaultWindow] = field(default_factory=list)

    def start(self, client: int, op: str, start_ns: int) -> Op:
        record = Op(len(self.ops), client, op, start_ns)
        self.ops.append(record)
        return record

    def label_phases(self) -> None:
        """before the first fault / during:<fault> while one is active / after."""
        started = [(w.name, w.start_ns, w.end_ns) for w in self.windows if w.start_ns is not None]
        first = min((start for _, start, _ in started), default=None)
        for op in self.ops:
            during = [name for name, s, e in started if s <= op.end_ns and (e is None or op.start_ns <= e)]
            if during:
                op.phase = "during:" + during[0]
            elif first is None or op.end_ns < first:
                op.phase = "before"
            else:
                op.phase = "after"

    def seconds(self, ns: int) -> float:
        """A monotonic time as seconds since the run started."""
        return (ns - self.t0_ns) / 1e9
