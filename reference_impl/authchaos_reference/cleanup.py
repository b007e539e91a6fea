"""Redis cleanup (port of services/redis/RedisCleanupService.ts).

Finds orphans under ``ac:`` with SCAN (never KEYS) in bounded batches and
removes them with UNLINK, so it is safe to run while the service serves:
  - keys that must expire but have no TTL (partial writes, older versions):
    families past their lifetime are unlinked; revocation records get the
    longest lifetime a token can have, never less (a revocation is never cut short);
  - user family sets: members whose family is gone are removed, empty sets unlinked;
  - login throttle keys get their own window, never the refresh lifetime (a lock-out of days).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from authchaos_reference.config import ConfigError
from authchaos_reference.login_throttle import KINDS as THROTTLE_KINDS
from authchaos_reference.login_throttle import key_lifetimes
from authchaos_reference.oauth import STATE_TTL_S
from authchaos_reference.redis_client import is_cluster_url
from authchaos_reference.redis_ops import RedisOperations
from authchaos_reference.token_store import P, fam_key

EXPIRING_KINDS = ("fam", "famrev", "bl", "legacy", "usercache", "userrev", "oauthstate", *THROTTLE_KINDS)


@dataclass
class CleanupReport:
    scanned: int = 0
    ttl_added: int = 0
    unlinked: int = 0
    members_removed: int = 0
    batches: int = 0
    complete: bool = False
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RedisCleanupService:
    def __init__(
        self,
        ops: RedisOperations,
        refresh_ttl_s: int,
        *,
        batch: int = 500,
        max_keys: int = 1_000_000,
        max_seconds: float = 300.0,
        pause_s: float = 0.0,
    ) -> None:
        self.ops = ops
        self.refresh_ttl_s = refresh_ttl_s
        # The throttle's kinds live one window; a used OAuth state only as long as a state is valid.
        self.lifetimes = {**key_lifetimes(ops.settings), "oauthstate": STATE_TTL_S}
        self.batch = batch
        self.max_keys = max_keys
        self.max_seconds = max_seconds
        self.pause_s = pause_s

    async def run(self, *, dry_run: bool = False) -> CleanupReport:
        """One bounded pass over the keyspace; ``complete`` says whether SCAN finished."""
        if is_cluster_url(
            self.ops.settings.redis_url
        ):  # one cursor, the plain layout: not for hash-tagged cluster keys
            raise ConfigError("cleanup does not support redis+cluster:// yet (keys are hash-tagged per user there)")
        report = CleanupReport(dry_run=dry_run)
        deadline = time.monotonic() + self.max_seconds
        cursor = 0
        while report.scanned < self.max_keys and time.monotonic() < deadline:
            cursor, keys = await self.ops.safe_redis_operation("cleanup_scan", self._scan_from(cursor))
            report.batches += 1
            report.scanned += len(keys)
            if keys:
                await self._clean_batch(list(keys), report, dry_run)
            if cursor == 0:
                report.complete = True
                break
            if self.pause_s:
                await asyncio.sleep(self.pause_s)
        return report

    def _scan_from(self, cursor: int) -> Callable[[Redis], Awaitable[tuple[int, list[str]]]]:
        """One SCAN step from ``cursor`` (a named function: mypy cannot type a lambda with a default)."""

        async def scan(r: Redis) -> tuple[int, list[str]]:
            next_cursor, keys = await r.scan(cursor, match=f"{P}*", count=self.batch)
            return int(next_cursor), [str(k) for k in keys]  # decode_responses=True: already str

        return scan

    async def _clean_batch(self, keys: list[str], report: CleanupReport, dry_run: bool) -> None:
        async def ttls(r: Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            for key in keys:
                pipe.ttl(key)
                if key.startswith(f"{P}fam:"):
                    pipe.hget(key, "rotated_at")
                else:
                    pipe.echo("")
            return await pipe.execute()

        answers = await self.ops.safe_redis_operation("cleanup_inspect", ttls)
        unlink, expire, sets = self._plan(keys, answers)
        removals = await self._stale_members(sets) if sets else {}
        report.unlinked += len(unlink)
        report.ttl_added += len(expire)
        report.members_removed += sum(len(m) for m in removals.values())
        if dry_run or not (unlink or expire or removals):
            return

        async def apply(r: Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            if unlink:
                pipe.unlink(*unlink)
            for key, ttl in expire:
                pipe.expire(key, ttl, nx=True)
            for key, members in removals.items():
                pipe.srem(key, *members)
            return await pipe.execute()

        await self.ops.safe_redis_operation("cleanup_apply", apply)
        # A set emptied by SREM disappears by itself in Redis: nothing more to unlink.

    def _plan(self, keys: list[str], answers: list[Any]) -> tuple[list[str], list[tuple[str, int]], list[str]]:
        """What to unlink (families past their life), what to give a TTL, and which user sets to prune."""
        now_ms = time.time() * 1000
        unlink: list[str] = []
        expire: list[tuple[str, int]] = []
        sets: list[str] = []
        for i, key in enumerate(keys):
            ttl, rotated_at = answers[2 * i], answers[2 * i + 1]
            kind = key[len(P) :].split(":", 1)[0]
            if kind == "userfams":
                sets.append(key)
            elif kind in EXPIRING_KINDS and ttl == -1:
                left = self.lifetimes.get(kind, self.refresh_ttl_s)
                if kind == "fam" and rotated_at and rotated_at != "0":
                    left = int(self.refresh_ttl_s - (now_ms - float(rotated_at)) / 1000)
                if left <= 0:
                    unlink.append(key)
                else:
                    expire.append((key, left))
        return unlink, expire, sets

    async def _stale_members(self, sets: list[str]) -> dict[str, list[str]]:
        async def members(r: Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            for key in sets:
                pipe.smembers(key)
            return await pipe.execute()

        found = await self.ops.safe_redis_operation("cleanup_members", members)
        pairs = [(key, fam) for key, fams in zip(sets, found, strict=True) for fam in sorted(fams)]
        if not pairs:
            return {}

        async def exists(r: Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            for _, fam in pairs:
                pipe.exists(fam_key(fam))
            return await pipe.execute()

        alive = await self.ops.safe_redis_operation("cleanup_exists", exists)
        stale: dict[str, list[str]] = {}
        for (key, fam), present in zip(pairs, alive, strict=True):
            if not present:
                stale.setdefault(key, []).append(fam)
        return stale
