"""The reference service's known-bug switches and the checks that name each one's symptom.

Light on purpose: the scenario schema validates ``service.bugs`` with it, and must not pull in how the
service is started (fakeredis, uvicorn).
"""

from __future__ import annotations

from authchaos_reference.bugs import KNOWN_BUGS, Bug, parse_bugs

__all__ = ["KNOWN_BUGS", "SWITCHES", "SYMPTOMS", "parse_bugs"]

# Each known-bug switch and the checks that name its symptom: `gate --prove` requires one of them to fail.
SYMPTOMS: dict[str, tuple[str, ...]] = {
    Bug.LEGACY_FALLBACK_TOKENS: ("no_false_rejections",),  # "Invalid token type for refresh"
    Bug.STRICT_TYPE: ("no_false_rejections",),  # legacy tokens rejected
    Bug.MISSING_BATCH_BLACKLIST: ("no_server_errors",),  # the batch endpoint answers 500
    Bug.UNSAFE_REDIS: ("no_server_errors",),  # Redis errors surface as 500s
    Bug.NO_BREAKER: ("latency_slo",),  # every call waits the command timeout
    Bug.NO_RECONNECT: ("recovery", "clients_recover"),  # never comes back
}
SWITCHES: tuple[str, ...] = tuple(b.value for b in Bug)  # the known-bug switches, in the service's order
