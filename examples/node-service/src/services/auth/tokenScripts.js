'use strict';
/**
 * What the JWT service keeps in Redis, and the Lua scripts that change it atomically.
 *
 * Keys (prefix `ac:`):
 *   ac:fam:<family>      hash  sub, current (refresh tokenId), prev, rotated_at (ms)   TTL refresh lifetime
 *   ac:famrev:<family>   str   the family is revoked (its refresh AND access tokens)    TTL refresh lifetime
 *   ac:bl:<tokenId>      str   one token is blacklisted                                 TTL its remaining life
 *   ac:userfams:<sub>    set   the user's families (logout-all)                          TTL refresh lifetime
 *   ac:userrev:<sub>     str   logout-all time (ms): tokens issued before it are ended   TTL refresh lifetime
 *   ac:legacy:<fp>       str   the family a legacy refresh token was upgraded into       TTL its remaining life
 *   ac:usercache:<sub>   json  the cached user record (authWithCache)                    TTL USER_CACHE_TTL_S
 * A legacy token (no tokenId) is keyed by its fingerprint `h-<sha256 hex, 32 chars>`.
 *
 * Every script is idempotent for the same arguments, so a retry after a lost answer cannot look like a reuse.
 */

const PREFIX = 'ac:';

const keys = {
  fam: (family) => `${PREFIX}fam:${family}`,
  famrev: (family) => `${PREFIX}famrev:${family}`,
  bl: (tokenId) => `${PREFIX}bl:${tokenId}`,
  userfams: (sub) => `${PREFIX}userfams:${sub}`,
  userrev: (sub) => `${PREFIX}userrev:${sub}`,
  legacy: (fp) => `${PREFIX}legacy:${fp}`,
  usercache: (sub) => `${PREFIX}usercache:${sub}`,
  famrevPrefix: `${PREFIX}famrev:`,
};

// KEYS: fam, userfams, userrev, famrev   ARGV: sub, tokenId, ttl_s, family, issued_ms
// -> 1 registered, 0 already known (adopted by a refresh first), -1 ended by a later logout-all
const REGISTER_FAMILY = `
local ended = redis.call('GET', KEYS[3])
if ended and tonumber(ended) >= tonumber(ARGV[5]) then
  redis.call('SET', KEYS[4], 'logout-all', 'EX', ARGV[3])
  return -1
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'current', ARGV[2], 'prev', '', 'rotated_at', '0')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
`;

// KEYS: fam, famrev, bl(presented tokenId), userfams, userrev
// ARGV: tokenId, newTokenId, now_ms, grace_ms, ttl_s, sub, adopt(0|1), family, issued_upper_ms
// -> {status, current tokenId}; status: ok | grace | reused | revoked | unknown | mismatch
const ROTATE_REFRESH = `
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
  return {'revoked', ''}
end
local current = redis.call('HGET', KEYS[1], 'current')
if not current then
  -- unknown family: only a fallback token (issued while Redis was away) may found it
  if ARGV[7] ~= '1' then
    return {'unknown', ''}
  end
  local ended = redis.call('GET', KEYS[5])
  if ended and tonumber(ended) >= tonumber(ARGV[9]) then
    redis.call('SET', KEYS[2], 'logout-all', 'EX', ARGV[5])
    return {'revoked', ''}
  end
  redis.call('HSET', KEYS[1], 'sub', ARGV[6], 'current', ARGV[1], 'prev', '', 'rotated_at', '0')
  redis.call('SADD', KEYS[4], ARGV[8])
  current = ARGV[1]
end
if redis.call('HGET', KEYS[1], 'sub') ~= ARGV[6] then
  return {'mismatch', ''}
end
local prev = redis.call('HGET', KEYS[1], 'prev')
if current == ARGV[2] and prev == ARGV[1] then
  return {'ok', current} -- this very rotation, retried after its answer was lost
end
if current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'prev', ARGV[1], 'current', ARGV[2], 'rotated_at', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[5])
  return {'ok', ARGV[2]}
end
if prev == ARGV[1] and tonumber(ARGV[4]) > 0 then
  local at = tonumber(redis.call('HGET', KEYS[1], 'rotated_at') or '0')
  if tonumber(ARGV[3]) - at <= tonumber(ARGV[4]) then
    return {'grace', current}
  end
end
-- an older token of the family: reuse. The whole family is revoked (RFC 9700 4.14.2).
redis.call('SET', KEYS[2], 'reuse', 'EX', ARGV[5])
return {'reused', current}
`;

// KEYS: legacy(fp), bl(fp), fam(new family), userfams, userrev
// ARGV: family, sub, tokenId, legacy_ttl_s, ttl_s, issued_upper_ms, famrev prefix
// -> {status, family}; status: ok | reused | revoked
const UPGRADE_LEGACY = `
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'revoked', ''}
end
local ended = redis.call('GET', KEYS[5])
if ended and tonumber(ended) >= tonumber(ARGV[6]) then
  return {'revoked', ''}
end
local owner = redis.call('GET', KEYS[1])
if owner then
  local ownerRevoked = ARGV[7] .. owner
  if owner == ARGV[1] and redis.call('HGET', KEYS[3], 'current') == ARGV[3] then
    if redis.call('EXISTS', ownerRevoked) == 1 then
      return {'revoked', owner}
    end
    return {'ok', owner} -- this very upgrade, retried after its answer was lost
  end
  redis.call('SET', ownerRevoked, 'reuse', 'EX', ARGV[5])
  return {'reused', owner}
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('HSET', KEYS[3], 'sub', ARGV[2], 'current', ARGV[3], 'prev', '', 'rotated_at', '0')
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('EXPIRE', KEYS[4], ARGV[5])
return {'ok', ARGV[1]}
`;

// KEYS: bl(fp), legacy(fp)   ARGV: token_ttl_s, family_ttl_s, famrev prefix  -> the family it had become, or ''
const REVOKE_LEGACY = `
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
local owner = redis.call('GET', KEYS[2])
if owner then
  redis.call('SET', ARGV[3] .. owner, '1', 'EX', ARGV[2])
  return owner
end
return ''
`;

// KEYS: userfams, userrev   ARGV: ttl_s, famrev prefix, now_ms  -> the families revoked
const REVOKE_USER = `
local families = redis.call('SMEMBERS', KEYS[1])
for _, family in ipairs(families) do
  redis.call('SET', ARGV[2] .. family, '1', 'EX', ARGV[1])
end
redis.call('DEL', KEYS[1])
local ended = redis.call('GET', KEYS[2])
if not ended or tonumber(ended) < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[1])
end
return families
`;

const SCRIPTS = {
  acRegisterFamily: { keys: 4, lua: REGISTER_FAMILY },
  acRotateRefresh: { keys: 5, lua: ROTATE_REFRESH },
  acUpgradeLegacy: { keys: 5, lua: UPGRADE_LEGACY },
  acRevokeLegacy: { keys: 2, lua: REVOKE_LEGACY },
  acRevokeUser: { keys: 2, lua: REVOKE_USER },
};

module.exports = { PREFIX, keys, SCRIPTS };
