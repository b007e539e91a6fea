"""What the token service keeps in Redis, each operation one round trip.

Keys (all under ``ac:``):
  fam:{family}       hash  sub, current, prev, rotated_at (ms)  TTL = refresh lifetime
  famrev:{family}    "1"   the family is revoked (also rejects its access tokens)
  bl:{tokenId}       "1"   one token is revoked, TTL = its remaining lifetime
  userfams:{sub}     set   the user's families, for logout-all
  legacy:{hash}      family a legacy refresh token was upgraded into (accept once)
  userrev:{sub}      ms    logout-all time: every token of ``sub`` issued before it is revoked
  directory          set   the enabled account ids (a removal seen at startup ends the account's sessions)
  usercache:{sub}    json  no longer written (roles come from the directory); cleanup removes old ones

Rotation and legacy upgrades are Lua scripts: atomic, and idempotent for the
same arguments so a retried call cannot look like a reuse.

On Redis Cluster (``KeyLayout(tagged=True)``) every key of a user, the user's families included,
carries the user's hash tag: ``ac:{u:alice}:fam:<family>``. A family belongs to one user, so a
family's keys are together and a user's keys are together, and every Lua script and every auth
pipeline touches exactly one slot. A single server and Sentinel keep the plain layout above, byte
for byte (existing data, cleanup and the legacy corpus keep working).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.crc import key_slot

from authchaos_reference.redis_ops import RedisOperations, StoreUnavailable

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


def userrev_key(sub: str) -> str:
    return f"{P}userrev:{sub}"


def usercache_key(sub: str) -> str:
    return f"{P}usercache:{sub}"


@dataclass(frozen=True)
class KeyLayout:
    """Key names per user: plain (``ac:fam:x``) or hash-tagged by user for a cluster (``ac:{u:sub}:fam:x``)."""

    tagged: bool = False

    def prefix(self, sub: str) -> str:
        return f"{P}{{u:{sub}}}:" if self.tagged else P

    def fam(self, family: str, sub: str) -> str:
        return f"{self.prefix(sub)}fam:{family}"

    def famrev(self, family: str, sub: str) -> str:
        return f"{self.prefix(sub)}famrev:{family}"

    def bl(self, token_id: str, sub: str) -> str:
        return f"{self.prefix(sub)}bl:{token_id}"

    def userfams(self, sub: str) -> str:
        return f"{self.prefix(sub)}userfams:{sub}"

    def legacy(self, fingerprint: str, sub: str) -> str:
        return f"{self.prefix(sub)}legacy:{fingerprint}"

    def userrev(self, sub: str) -> str:
        return f"{self.prefix(sub)}userrev:{sub}"

    def usercache(self, sub: str) -> str:
        return f"{self.prefix(sub)}usercache:{sub}"


@dataclass(frozen=True)
class TokenEntry:
    """One revocation entry to write: ``bl`` for a token id (or a legacy fingerprint), TTL in seconds."""

    sub: str
    token_id: str
    ttl_s: int


REGISTER = """
-- KEYS: fam, userfams, userrev ; ARGV: sub, tokenId, ttl_s, family, issued_ms, prefix
local rev = redis.call('GET', KEYS[3])
if rev and tonumber(rev) >= tonumber(ARGV[5]) then
  redis.call('SET', ARGV[6] .. 'famrev:' .. ARGV[4], 'logout-all', 'EX', ARGV[3])
  return -1
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'current', ARGV[2], 'prev', '', 'rotated_at', '0')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

ROTATE = """
-- KEYS: fam, famrev, bl(presented), userfams, userrev
-- ARGV: tokenId, newTokenId, now_ms, grace_ms, ttl_s, sub, adopt, family, issued_upper_ms
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
  return {'revoked', ''}
end
local cur = redis.call('HGET', KEYS[1], 'current')
if not cur then
  if ARGV[7] ~= '1' then return {'unknown', ''} end
  local rev = redis.call('GET', KEYS[5])
  if rev and tonumber(rev) >= tonumber(ARGV[9]) then
    redis.call('SET', KEYS[2], 'logout-all', 'EX', ARGV[5])
    return {'revoked', ''}
  end
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
-- KEYS: legacy, bl(fingerprint), fam(proposed), userfams, userrev
-- ARGV: family, sub, tokenId, legacy_ttl_s, ttl_s, prefix, issued_upper_ms
if redis.call('EXISTS', KEYS[2]) == 1 then return {'revoked', ''} end
local rev = redis.call('GET', KEYS[5])
if rev and tonumber(rev) >= tonumber(ARGV[7]) then return {'revoked', ''} end
local owner = redis.call('GET', KEYS[1])
if owner then
  local famrev = ARGV[6] .. 'famrev:' .. owner
  if owner == ARGV[1] and redis.call('HGET', KEYS[3], 'current') == ARGV[3] then
    if redis.call('EXISTS', famrev) == 1 then return {'revoked', owner} end
    return {'ok', owner}  -- a retry of this very upgrade whose answer was lost
  end
  redis.call('SET', famrev, 'reuse', 'EX', ARGV[5])  -- RFC 9700 4.14.2: reuse revokes the family
  return {'reused', owner}
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('HSET', KEYS[3], 'sub', ARGV[2], 'current', ARGV[3], 'prev', '', 'rotated_at', '0')
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('EXPIRE', KEYS[4], ARGV[5])
return {'ok', ARGV[1]}
"""

REVOKE_LEGACY = """
-- KEYS: bl(fingerprint), legacy ; ARGV: token_ttl_s, family_ttl_s, prefix
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
local owner = redis.call('GET', KEYS[2])
if owner then
  redis.call('SET', ARGV[3] .. 'famrev:' .. owner, '1', 'EX', ARGV[2])
  return owner
end
return ''
"""

REVOKE_USER = """
-- KEYS: userfams, userrev ; ARGV: ttl_s, prefix, now_ms
local fams = redis.call('SMEMBERS', KEYS[1])
for _, f in ipairs(fams) do
  redis.call('SET', ARGV[2] .. 'famrev:' .. f, '1', 'EX', ARGV[1])
end
redis.call('DEL', KEYS[1])
local rev = redis.call('GET', KEYS[2])
if not rev or tonumber(rev) < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1]) end
return fams
"""


DIRECTORY = f"{P}directory"  # set: the enabled account ids, as the last process to look saw them

SYNC_DIRECTORY = """
-- KEYS: directory ; ARGV: the enabled ids. Returns the ids it held that are not enabled any more.
local gone = {}
local now = {}
for _, id in ipairs(ARGV) do now[id] = true end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not now[id] then table.insert(gone, id) end
end
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 1000 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return gone
"""


def _waited(answers: list[Any]) -> list[Any]:
    """A pipeline's answers ending with WAIT's: the writes' own errors first (READONLY from a demoted primary is a
    failover), then WAIT's answer, where an error (WAIT refused on a replica) counts as no replica confirming."""
    *writes, acked = answers
    for answer in writes:
        if isinstance(answer, Exception):
            raise answer
    return [*writes, 0 if isinstance(acked, Exception) else acked]


@dataclass(frozen=True)
class Rotation:
    status: str  # ok | grace | reused | revoked | unknown | mismatch
    refresh_token_id: str


@dataclass(frozen=True)
class AuthLookup:
    revoked: bool
    user_revoked_at_ms: int | None  # logout-all time, if any


class TokenStore:
    def __init__(
        self,
        ops: RedisOperations,
        refresh_ttl_s: int,
        layout: KeyLayout | None = None,
        *,
        durable_replicas: int = 0,
        durable_timeout_ms: int = 50,
    ) -> None:
        self.ops = ops
        self.ttl = refresh_ttl_s
        self.keys = layout or KeyLayout()
        # replicas:N durability: revocations and rotations wait for N replicas (WAIT on the same connection)
        self.durable = durable_replicas
        self.durable_timeout_ms = durable_timeout_ms
        client = ops.client
        self._register = client.register_script(REGISTER)
        self._rotate = client.register_script(ROTATE)
        self._upgrade_legacy = client.register_script(UPGRADE_LEGACY)
        self._revoke_legacy = client.register_script(REVOKE_LEGACY)
        self._revoke_user = client.register_script(REVOKE_USER)
        self._sync_directory = client.register_script(SYNC_DIRECTORY)

    async def register_family(self, family: str, sub: str, token_id: str, *, issued_ms: int) -> int:
        """Record a new family: 1 written, 0 already there (adopted on refresh), -1 revoked by a later logout-all.

        Durable too under replicas:N: a logout-all can only name the families its primary knows, so a session
        registered on a primary that is then replaced would outlive an acknowledged logout-all. On a shortfall
        the login falls back (its family is registered later, by name, with the logout-all time checked)."""
        k = self.keys
        done = await self._durable_script(
            "register_family",
            self._register,
            [k.fam(family, sub), k.userfams(sub), k.userrev(sub)],
            [sub, token_id, self.ttl, family, issued_ms, k.prefix(sub)],
        )
        return int(done)

    async def rotate(
        self,
        family: str,
        sub: str,
        token_id: str,
        new_token_id: str,
        *,
        now_ms: int,
        grace_ms: int,
        adopt: bool,
        issued_upper_ms: int,
    ) -> Rotation:
        """Rotate one refresh token atomically; ``issued_upper_ms`` bounds when the presented token was issued."""
        k = self.keys
        status, current = await self._durable_script(
            "rotate",
            self._rotate,
            [k.fam(family, sub), k.famrev(family, sub), k.bl(token_id, sub), k.userfams(sub), k.userrev(sub)],
            [token_id, new_token_id, now_ms, grace_ms, self.ttl, sub, "1" if adopt else "0", family, issued_upper_ms],
        )
        return Rotation(str(status), str(current))

    async def upgrade_legacy(
        self, fingerprint: str, family: str, sub: str, token_id: str, *, legacy_ttl_s: int, issued_upper_ms: int
    ) -> tuple[str, str]:
        """Exchange a legacy token for a new family, once: (ok | reused | revoked, family). Atomic, retry-safe."""
        k = self.keys
        status, owner = await self._durable_script(
            "upgrade_legacy",
            self._upgrade_legacy,
            [k.legacy(fingerprint, sub), k.bl(fingerprint, sub), k.fam(family, sub), k.userfams(sub), k.userrev(sub)],
            [family, sub, token_id, legacy_ttl_s, self.ttl, k.prefix(sub), issued_upper_ms],
        )
        return str(status), str(owner)

    async def revoke_user(self, sub: str, now_ms: int) -> set[str]:
        """Revoke every family of ``sub`` and every token issued to it before ``now_ms``; returns the families.
        One script in the user's slot: on a cluster too, logout-all is one atomic step."""
        k = self.keys
        families = await self._durable_script(
            "revoke_user", self._revoke_user, [k.userfams(sub), k.userrev(sub)], [self.ttl, k.prefix(sub), now_ms]
        )
        return {str(f) for f in families}

    async def _durable_script(self, op: str, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """One script; with replicas:N durability, followed by WAIT on its connection (one pipeline, one round trip)."""

        async def run_script(r: Redis) -> Any:
            if not self.durable:
                return await script(keys=keys, args=args, client=r), None
            pipe = r.pipeline(transaction=False)
            await script(keys=keys, args=args, client=pipe)
            pipe.wait(self.durable, self.durable_timeout_ms)
            result, acked = _waited(await pipe.execute(raise_on_error=False))
            return result, acked

        result, acked = await self.ops.safe_redis_operation(op, run_script)
        await self._require_replicas(op, acked)
        return result

    async def _require_replicas(self, op: str, acked: Any) -> None:
        """Fail closed (503) when fewer than N replicas confirmed the write: never acknowledge what one node holds.
        The write did run on the primary: like a lost answer, so a retried rotation completes the one proposed.

        A primary without replicas may be one the sentinels already replaced (they demote it only seconds
        later): ask them, and redis-py drops its idle connections if the primary has moved."""
        if self.durable and int(acked or 0) < self.durable:
            await self.ops.follow_primary()
            reason = f"replicated to {int(acked or 0)} of {self.durable} replicas within {self.durable_timeout_ms} ms"
            raise StoreUnavailable(op, reason, 1.0)

    async def blacklist(
        self,
        tokens: list[TokenEntry],
        families: list[tuple[str, str]],
        op: str = "blacklist",
        legacy: list[TokenEntry] | None = None,
    ) -> set[str]:
        """Revoke tokens (bl EX remaining lifetime), families ((sub, family)), and legacy refresh tokens with the
        family each was upgraded into, in one pipelined round trip (on a cluster: one per node, the commands
        grouped by slot). Returns the families reached through legacy tokens."""
        legacy = legacy or []
        if not (tokens or families or legacy):
            return set()

        async def run(r: Redis) -> Any:
            return await self._write_revocations(r, tokens, families, legacy)

        answers = await self.ops.safe_redis_operation(op, run)
        if self.durable:
            await self._require_replicas(op, answers.pop())
        owners = answers[len(tokens) + len(families) :]
        return {str(owner) for owner in owners if owner}

    async def _write_revocations(
        self, r: Redis, tokens: list[TokenEntry], families: list[tuple[str, str]], legacy: list[TokenEntry]
    ) -> Any:
        k = self.keys
        writes = [(k.bl(t.token_id, t.sub), t.ttl_s) for t in tokens]
        writes += [(k.famrev(family, sub), self.ttl) for sub, family in families]
        if k.tagged:  # group by slot: each node gets its commands together (answers are put back in order)
            order = sorted(range(len(writes)), key=lambda i: key_slot(writes[i][0].encode()))
        else:
            order = list(range(len(writes)))
        pipe = r.pipeline(transaction=False)
        for i in order:
            pipe.set(writes[i][0], "1", ex=writes[i][1])
        for entry in legacy:
            keys = [k.bl(entry.token_id, entry.sub), k.legacy(entry.token_id, entry.sub)]
            args: list[str | int] = [entry.ttl_s, self.ttl, k.prefix(entry.sub)]
            if k.tagged:  # a cluster pipeline cannot load a script on NOSCRIPT: send its text (rare: legacy only)
                pipe.eval(REVOKE_LEGACY, len(keys), *keys, *args)
            else:
                await self._revoke_legacy(keys=keys, args=args, client=pipe)
        if self.durable:
            pipe.wait(self.durable, self.durable_timeout_ms)
        raw = await pipe.execute(raise_on_error=not self.durable)
        if self.durable:
            raw = _waited(raw)
        answers: list[Any] = [None] * len(writes)
        for pos, i in enumerate(order):
            answers[i] = raw[pos]
        return answers + list(raw[len(writes) :])

    async def sync_directory(self, active: set[str]) -> set[str]:
        """Record the enabled accounts; returns those recorded before that are not enabled any more. One script:
        two processes syncing at once each see a consistent set (and ending a session twice is harmless)."""
        removed = await self.ops.safe_redis_operation(
            "sync_directory",
            lambda r: self._sync_directory(keys=[DIRECTORY], args=sorted(active), client=r),
        )
        return {str(sub) for sub in removed}

    async def auth_lookup(self, token_id: str, family: str | None, sub: str) -> AuthLookup:
        """Revocation and logout-all time in one round trip (one slot): the auth middleware's hot path."""
        k = self.keys
        keys = [k.bl(token_id, sub)] + ([k.famrev(family, sub)] if family else [])

        async def run(r: Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            pipe.exists(*keys)
            pipe.get(k.userrev(sub))
            return await pipe.execute()

        revoked, user_rev = await self.ops.safe_redis_operation("auth_lookup", run)
        return AuthLookup(bool(revoked), int(user_rev) if user_rev else None)
