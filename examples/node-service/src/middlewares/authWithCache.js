'use strict';
/**
 * Bearer authentication with a short Redis-backed cache of the user record.
 *
 * Healthy: one round trip checks the blacklist, the session (family) and the logout-all time, and fetches the
 * cached user. Redis away: the token is accepted on signature and claims alone for DEGRADED_MAX_S seconds after
 * the outage began (revocations this process wrote are still honoured), with `X-Auth-Degraded: 1`; then 503.
 *
 * Bug switch `multiple_redis_clients`: the middleware gets its own Redis client (ioredis defaults, no breaker,
 * no safe wrapper, no degraded mode), as before the fix.
 */

const errors = require('../utils/errors');
const { getManager, createStandaloneClient, execPipeline } = require('../config/redis');
const { keys } = require('../services/auth/tokenScripts');
const { UserDirectory } = require('../modules/Auth/users');

const DEGRADED_HEADER = 'X-Auth-Degraded';

function bearerToken(header) {
  if (!header) throw errors.invalidToken("Missing Authorization header: send 'Authorization: Bearer <access token>'");
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) throw errors.invalidToken("Authorization header must be 'Bearer <access token>'");
  return match[1];
}

function parseCached(text) {
  if (!text) return null;
  try {
    const record = JSON.parse(text);
    return record && typeof record === 'object' && typeof record.id === 'string' ? record : null;
  } catch (err) {
    return null; // a corrupt cache entry is a miss
  }
}

function createAuthWithCache({ config, jwtService, users }) {
  const ownClient = config.bugs.has('multiple_redis_clients') ? createStandaloneClient(config, 'auth-cache') : null;

  async function lookupWithOwnClient(tokenId, family, sub) {
    // The pre-fix code: a raw client, a raw error reaches the route (500), no degraded mode.
    const probe = [keys.bl(tokenId)].concat(family ? [keys.famrev(family)] : []);
    const p = ownClient.pipeline();
    p.exists(...probe);
    p.get(keys.usercache(sub));
    p.get(keys.userrev(sub));
    const [revoked, cached, rev] = await execPipeline(p);
    return { revoked: Number(revoked) > 0, cached, userRevokedAtMs: rev ? Number(rev) : null };
  }

  function knownUser(sub) {
    const user = users.findById(sub);
    if (!user) throw errors.invalidToken('Token subject is not a known user');
    return user;
  }

  async function authenticate(req) {
    const token = bearerToken(req.headers.authorization);
    const claims = jwtService.verifyAccessToken(token);
    const tokenId = jwtService.tokenIdOf(claims, token);
    const family = typeof claims.family === 'string' ? claims.family : null;
    if (jwtService.isRevokedLocally(tokenId, family)) throw errors.tokenRevoked('Token revoked');
    let found;
    try {
      found = ownClient
        ? await lookupWithOwnClient(tokenId, family, claims.sub)
        : await jwtService.authLookup(tokenId, family, claims.sub);
    } catch (err) {
      if (!(err instanceof errors.StoreUnavailableError) || err.refused) throw err;
      const age = getManager().state.outageAgeS() || 0;
      if (age > config.degradedMaxS) {
        throw errors.storeUnavailable(
          `Session store unavailable for ${Math.round(age)}s, longer than the ${config.degradedMaxS}s degraded window`,
          err.retryAfterS
        );
      }
      return { token, claims, user: UserDirectory.record(knownUser(claims.sub)), degraded: true };
    }
    // Revoked: blacklisted, its session revoked, or issued (certainly) before the user's logout-all.
    if (found.revoked || (found.userRevokedAtMs !== null && (claims.iat + 1) * 1000 <= found.userRevokedAtMs)) {
      throw errors.tokenRevoked('Token revoked');
    }
    let user = parseCached(found.cached);
    if (!user || user.id !== claims.sub) {
      user = UserDirectory.record(knownUser(claims.sub));
      if (ownClient) await ownClient.set(keys.usercache(claims.sub), JSON.stringify(user), 'EX', config.userCacheTtlS);
      else await jwtService.cacheUser(claims.sub, user);
    }
    return { token, claims, user, degraded: false };
  }

  return async function authWithCache(req, res, next) {
    try {
      req.auth = await authenticate(req);
      if (req.auth.degraded) res.set(DEGRADED_HEADER, '1');
      next();
    } catch (err) {
      next(err);
    }
  };
}

function requireRole(role) {
  return function requireRoleMiddleware(req, res, next) {
    const roles = (req.auth && req.auth.user && req.auth.user.roles) || [];
    if (!roles.includes(role)) return next(errors.forbidden(`This action needs the ${role} role`));
    return next();
  };
}

module.exports = { createAuthWithCache, requireRole, DEGRADED_HEADER };
