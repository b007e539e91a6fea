"""What the history says was revoked, and when: the model every token-safety checker judges against.

Jepsen-style: a revocation counts from the moment its acknowledgement (a 200) came back; an op that
started after that and was accepted is a violation. A revocation whose outcome the client could not
know (no answer, a 5xx) or that raced the op (logout-all while a login was in flight) is *maybe*:
it never proves a violation and never makes a rejection false.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from authchaos.record.history import Op
from authchaos.record.windows import LOSSY_KINDS, Span

ONE_SECOND_NS = 1_000_000_000  # iat has one-second resolution
REVOKING = ("logout", "logout_all", "blacklist_batch", "blacklist_session")
# Operations that present a token the service must check against revocations.
PRESENTS_TOKEN = (
    "me",
    "refresh",
    "replay",
    "logout",
    "logout_all",
    "recheck_revoked",
    "concurrent_refresh",
    "legacy_refresh",
    "held_refresh",
    "owner_refresh",
    "idle_refresh",
)


# Refresh exchanges: each presents a refresh token, and two presentations of one token are a reuse to the service.
REFRESHES = (
    "refresh",
    "replay",
    "concurrent_refresh",
    "legacy_refresh",
    "held_refresh",
    "owner_refresh",
    "idle_refresh",
)


def _overlap(a: Op, b: Op) -> bool:
    return a.start_ns <= b.end_ns and b.start_ns <= a.end_ns


def _ambiguous(op: Op) -> bool:
    return op.status is None or op.status >= 500


@dataclass
class Revocations:
    tokens: dict[str, int] = field(default_factory=dict)  # token id -> acknowledged at (ns)
    families: dict[str, int] = field(default_factory=dict)  # family -> acknowledged at (ns)
    maybe_families: set[str] = field(default_factory=set)
    sent: dict[str, int] = field(default_factory=dict)  # token id or family -> when its revocation was sent
    user_wide: list[tuple[int, int]] = field(default_factory=list)  # logout-all calls (acknowledged or unknown)
    # family -> (user, when the call that created it started, when its answer came back)
    issued: dict[str, tuple[str | None, int, int]] = field(default_factory=dict)
    refreshed: dict[str, int] = field(default_factory=dict)  # family -> its last rotation's answer (ns)

    @classmethod
    def from_ops(cls, ops: Iterable[Op]) -> Revocations:
        r = cls()
        ordered = sorted(ops, key=lambda o: o.start_ns)
        for op in ordered:
            r._note_family(op)
        for op in ordered:
            r._note_revocation(op)
        r._note_unseen_reuse(ordered)
        return r

    def _note_unseen_reuse(self, ordered: list[Op]) -> None:
        """Two presentations of one refresh token at once are a reuse to the service (two workers, each its own
        retry memory), which may revoke the session for it; when the verdict's answer was lost (no answer, a 5xx)
        the client never saw it, so the session may be revoked without any answer saying so. A retry sent after
        an unknown outcome is not excused: the service must make that one idempotent."""
        seen: dict[str, list[Op]] = {}
        for op in ordered:
            if op.op in REFRESHES and op.token_id and op.family:
                seen.setdefault(op.token_id, []).append(op)
        for presented in seen.values():
            racing = [o for o in presented if any(p is not o and _overlap(o, p) for p in presented)]
            if any(_ambiguous(o) for o in racing):
                self.maybe_families.add(str(presented[0].family))

    def _note_family(self, op: Op) -> None:
        if op.status == 200 and op.new_family:
            user, start, end = self.issued.get(op.new_family, (op.user, op.start_ns, op.end_ns))
            self.issued[op.new_family] = (user or op.user, min(start, op.start_ns), min(end, op.end_ns))
            self.refreshed[op.new_family] = max(self.refreshed.get(op.new_family, 0), op.end_ns)

    def _note_revocation(self, op: Op) -> None:
        if op.status == 200:
            for tid in op.revoked_ids:
                self._revoke(self.tokens, tid, op)
            for fam in op.revoked_families:
                self._revoke(self.families, fam, op)
        if op.error == "token_reused" and op.family:
            self._revoke(self.families, op.family, op)
        if op.op == "logout_all" and op.revoked_user:
            self._logout_all(op)
        elif op.op in REVOKING and _ambiguous(op) and op.family and op.op != "blacklist_batch":
            self.maybe_families.add(op.family)

    def _logout_all(self, op: Op) -> None:
        if op.status == 200 or _ambiguous(op):
            self.user_wide.append((op.start_ns, op.end_ns))
        for fam, (user, created_from, created_by) in self.issued.items():
            if user != op.revoked_user:
                continue
            if op.status == 200 and created_by < op.start_ns:
                self._revoke(self.families, fam, op)
            elif (op.status == 200 or _ambiguous(op)) and created_from <= op.end_ns:
                self.maybe_families.add(fam)  # created while the logout-all was in flight, or its fate unknown

    def _revoke(self, into: dict[str, int], key: str, op: Op) -> None:
        into.setdefault(key, op.end_ns)
        self.sent.setdefault(key, op.start_ns)

    def revoked_at(self, op: Op) -> int | None:
        """When the token or the family ``op`` presents was revoked (acknowledged), if it was."""
        times = [t for t in (self.tokens.get(op.token_id or ""), self.families.get(op.family or "")) if t is not None]
        return min(times, default=None)

    def maybe_revoked(self, op: Op) -> bool:
        """Revoked, for sure or possibly, before ``op`` was answered: a revocation sent while ``op`` was in
        flight may have landed first."""
        sent = [self.sent[k] for k in (op.token_id, op.family) if k and k in self.sent]
        if any(t <= op.end_ns for t in sent) or (op.family or "") in self.maybe_families:
            return True
        # a token without a family (legacy) is revoked by a logout-all of its user up to a second after its iat
        return op.family is None and any(
            s - ONE_SECOND_NS <= op.end_ns and op.start_ns - ONE_SECOND_NS <= e for s, e in self.user_wide
        )


def in_loss_window(windows: list[Span], loss_window_s: float, at_ns: int) -> bool:
    """``at_ns`` falls within the declared loss window (the AOF fsync interval) before a crash."""
    loss_ns = int(loss_window_s * 1e9)
    return loss_ns > 0 and any(w.kind in LOSSY_KINDS and w.start_ns - loss_ns <= at_ns <= w.start_ns for w in windows)


def accepted_after_revocation(ops: list[Op], windows: list[Span], loss_window_s: float) -> list[tuple[Op, int]]:
    """Accepted calls that presented a token or family revoked before they started (outside any loss window)."""
    revocations = Revocations.from_ops(ops)
    hits = []
    for op in ops:
        if op.status != 200 or op.op not in PRESENTS_TOKEN:
            continue
        at = revocations.revoked_at(op)
        if at is not None and op.start_ns > at and not in_loss_window(windows, loss_window_s, at):
            hits.append((op, at))
    return hits
