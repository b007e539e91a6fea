"""What the token service keeps in Redis, each operation one round trip.

Keys (all under ``ac:``):
  fam:{family}       hash  sub, current, prev, rotated_at (ms)  TTL = refresh lifetime
  famrev:{family}    "1"   the family is revoked (also rejects its access tokens)
  bl:{tokenId}       "1"   one token is revoked, TTL = its remaining lifetime
  userfams:{sub}     set   the user's families, for logout-all
  legacy:{hash}      family a legacy refresh token was upgraded into (accept once)
  usercache:{sub}    json  cached user record for the auth middleware

Rotation and legacy upgrades are Lua scripts: atomic, and idempotent for the
same arguments so a retried call cannot look like a reuse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from reference_impl.redis_ops import RedisOperations

P = "ac:"


def fam_key(family: str) -> str:
    return f"{P}fam:{family}"


def famrev_key(family: str) -> str:
    return f"{P}famrev:{family}"


def bl_key(token_id: str) -> str:
    return f"{P}bl:{token_id}"


def userfams_key(sub: str) -> str:
    return f"{P}userfams:{sub}"


def legacy_key(fingerprint: str) -> str:
    return f"{P}legacy:{fingerprint}"


def usercache_key(sub: str) -> str:
    return f"{P}usercache:{sub}"


REGISTER = """
-- KEYS: fam, userfams ; ARGV: sub, tokenId, ttl_s, family
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'current', ARGV[2], 'prev', '', 'rotated_at', '0')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

ROTATE = """
-- KEYS: fam, famrev, bl(presented), userfams
-- ARGV: tokenId, newTokenId, now_ms, grace_ms, ttl_s, sub, adopt, family
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
  return {'revoked', ''}
end
local cur = redis.call('HGET', KEYS[1], 'current')
if not cur then
  if ARGV[7] ~= '1' then return {'unknown', ''} end
  redis.call('HSET', KEYS[1], 'sub', ARGV[6], 'current', ARGV[1], 'prev', '', 'rotated_at', '0')
  redis.call('SADD', KEYS[4], ARGV[8])
  cur = ARGV[1]
end
if redis.call('HGET', KEYS[1], 'sub') ~= ARGV[6] then return {'mismatch', ''} end
local prev = redis.call('HGET', KEYS[1], 'prev')
if cur == ARGV[2] and prev == ARGV[1] then return {'ok', cur} end
if cur == ARGV[1] then
  redis.call('HSET', KEYS[1], 'prev', ARGV[1], 'current', ARGV[2], 'rotated_at', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
  return {'ok', ARGV[2]}
end
if prev == ARGV[1] and tonumber(ARGV[4]) > 0 then
  local at = tonumber(redis.call('HGET', KEYS[1], 'rotated_at'))
  if tonumber(ARGV[3]) - at <= tonumber(ARGV[4]) then return {'grace', cur} end
end
redis.call('SET', KEYS[2], 'reuse', 'EX', ARGV[5])
return {'reused', cur}
"""

UPGRADE_LEGACY = """
-- KEYS: legacy, bl(fingerprint), fam, userfams ; ARGV: family, sub, tokenId, legacy_ttl_s, ttl_s
if redis.call('EXISTS', KEYS[2]) == 1 then return 'revoked' end
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 'reused' end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
  redis.call('HSET', KEYS[3], 'sub', ARGV[2], 'current', ARGV[3], 'prev', '', 'rotated_at', '0')
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  redis.call('SADD', KEYS[4], ARGV[1])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
end
return 'ok'
"""

REVOKE_USER = """
-- KEYS: userfams ; ARGV: ttl_s, prefix
local fams = redis.call('SMEMBERS', KEYS[1])
for _, f in ipairs(fams) do
  redis.call('SET', ARGV[2] .. 'famrev:' .. f, '1', 'EX', ARGV[1])
end
redis.call('DEL', KEYS[1])
return fams
"""


@dataclass(frozen=True)
class Rotation:
    status: str  # ok | grace | reused | revoked | unknown | mismatch
    refresh_token_id: str


class TokenStore:
    def __init__(self, ops: RedisOperations, refresh_ttl_s: int) -> None:
        self.ops = ops
        self.ttl = refresh_ttl_s
        client = ops.client
        self._register = client.register_script(REGISTER)
        self._rotate = client.register_script(ROTATE)
        self._upgrade_legacy = client.register_script(UPGRADE_LEGACY)
        self._revoke_user = client.register_script(REVOKE_USER)

    async def register_family(self, family: str, sub: str, token_id: str) -> bool:
        """Record a new family; False if it already exists (a fallback family adopted on refresh)."""
        done = await self.ops.safe_redis_operation(
            "register_family",
            lambda r: self._register(
                keys=[fam_key(family), userfams_key(sub)], args=[sub, token_id, self.ttl, family], client=r
            ),
        )
        return bool(done)

    async def rotate(
        self, family: str, sub: str, token_id: str, new_token_id: str, *, now_ms: int, grace_ms: int, adopt: bool
    ) -> Rotation:
        status, current = await self.ops.safe_redis_operation(
            "rotate",
            lambda r: self._rotate(
                keys=[fam_key(family), famrev_key(family), bl_key(token_id), userfams_key(sub)],
                args=[token_id, new_token_id, now_ms, grace_ms, self.ttl, sub, "1" if adopt else "0", family],
                client=r,
            ),
        )
        return Rotation(str(status), str(current))

    async def upgrade_legacy(self, fingerprint: str, family: str, sub: str, token_id: str, *, legacy_ttl_s: int) -> str:
        """Exchange a legacy token for a new family, once: ok | reused | revoked (atomic, retry-safe)."""
        status = await self.ops.safe_redis_operation(
            "upgrade_legacy",
            lambda r: self._upgrade_legacy(
                keys=[legacy_key(fingerprint), bl_key(fingerprint), fam_key(family), userfams_key(sub)],
                args=[family, sub, token_id, legacy_ttl_s, self.ttl],
                client=r,
            ),
        )
        return str(status)

    async def revoke_user(self, sub: str) -> set[str]:
        """Revoke every family of ``sub``; returns them."""
        families = await self.ops.safe_redis_operation(
            "revoke_user", lambda r: self._revoke_user(keys=[userfams_key(sub)], args=[self.ttl, P], client=r)
        )
        return {str(f) for f in families}

    async def blacklist(self, tokens: list[tuple[str, int]], families: list[str], op: str = "blacklist") -> None:
        """Revoke tokens (bl:{id} EX remaining lifetime) and families in one pipelined round trip."""

        async def run(r: Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            for token_id, ttl in tokens:
                pipe.set(bl_key(token_id), "1", ex=ttl)
            for family in families:
                pipe.set(famrev_key(family), "1", ex=self.ttl)
            return await pipe.execute()

        if tokens or families:
            await self.ops.safe_redis_operation(op, run)

    async def auth_lookup(self, token_id: str, family: str | None, sub: str) -> tuple[bool, str | None]:
        """(revoked?, cached user json) in one round trip: the auth middleware's hot path."""
        keys = [bl_key(token_id)] + ([famrev_key(family)] if family else [])

        async def run(r: Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            pipe.exists(*keys)
            pipe.get(usercache_key(sub))
            return await pipe.execute()

        revoked, cached = await self.ops.safe_redis_operation("auth_lookup", run)
        return bool(revoked), cached

    async def cache_user(self, sub: str, record: dict[str, Any], ttl_s: int) -> None:
        """Best effort: a failed cache write costs a lookup next time, nothing more."""
        await self.ops.safe_redis_operation(
            "cache_user", lambda r: r.set(usercache_key(sub), json.dumps(record), ex=ttl_s), fallback=None
        )
