"""Revocations this process wrote, remembered locally.

In degraded mode Redis cannot be asked, but a process must never accept a
token it revoked itself a moment ago. Bounded and self-expiring.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class LocalRevocations:
    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def add(self, key: str, ttl_s: float) -> None:
        self._entries[key] = self._clock() + ttl_s
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def token(self, token_id: str, ttl_s: float) -> None:
        self.add("t:" + token_id, ttl_s)

    def family(self, family: str, ttl_s: float) -> None:
        self.add("f:" + family, ttl_s)

    def is_revoked(self, token_id: str, family: str | None) -> bool:
        now = self._clock()
        for key in ("t:" + token_id, "f:" + family if family else None):
            if key is None:
                continue
            expires = self._entries.get(key)
            if expires is not None:
                if expires > now:
                    return True
                del self._entries[key]
        return False

    def __len__(self) -> int:
        return len(self._entries)
