"""Known-bug switches: each one re-introduces one problem the original service had.

They exist so the harness can prove it catches each regression. All are off by
default; the code paths they touch check ``Bug.X in settings.bugs`` locally and
nowhere else.
"""

from __future__ import annotations

from enum import StrEnum


class Bug(StrEnum):
    # The OAuth controller's own fallback generator signed a bare {sub, username}
    # payload with the access key: no tokenId/family/type, so refresh said
    # "Invalid token type for refresh".
    LEGACY_FALLBACK_TOKENS = "legacy_fallback_tokens"
    # Tokens without a `type` claim are rejected: no backward compatibility.
    STRICT_TYPE = "strict_type"
    # batchBlacklistTokens was called but never written.
    MISSING_BATCH_BLACKLIST = "missing_batch_blacklist"
    # Redis called directly: its errors become 500s.
    UNSAFE_REDIS = "unsafe_redis"
    # No circuit breaker: every request waits the full command timeout in an outage.
    NO_BREAKER = "no_breaker"
    # The client gives up for good after its first connection error.
    NO_RECONNECT = "no_reconnect"


KNOWN_BUGS = frozenset(b.value for b in Bug)


def parse_bugs(text: str) -> frozenset[str]:
    """Parse ``a,b``; an unknown name is an error that lists the known ones."""
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(names - KNOWN_BUGS)
    if unknown:
        raise ValueError(f"unknown bug switch {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_BUGS))}")
    return names
