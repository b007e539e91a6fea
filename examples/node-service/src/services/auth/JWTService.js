'use strict';
/**
 * JWTService: token pairs with tokenId, family and type; refresh rotation done atomically in Redis (Lua);
 * reuse detection; blacklisting (one token, or a batch in ONE pipeline); logout and logout-all.
 *
 * All Redis access goes through redisOperations / safeRedisOperation. Paths that revoke or rotate fail closed:
 * when Redis is away they throw StoreUnavailableError (503) and never acknowledge a revocation that was not
 * stored, nor mint a pair whose rotation was not recorded.
 */

const { redisOperations, defineScript, THROW } = require('../../config/redis');
const errors = require('../../utils/errors');
const logger = require('../../utils/logger');
const { TokenCodec, newId, fingerprint, isLegacy } = require('./tokenCodec');
const { keys, SCRIPTS } = require('./tokenScripts');

const MAX_TTL_S = 100 * 365 * 24 * 3600; // Redis refuses absurd EX values; no token of ours lives longer
const SLICE_MS = 5; // a batch validates at most this long before letting other requests run

/** A bounded map whose entries expire: local revocations, pending families, undelivered rotations. */
class ExpiringMap {
  constructor(maxEntries) {
    this.max = maxEntries;
    this.items = new Map();
  }
  set(key, value, ttlS) {
    this.items.delete(key);
    this.items.set(key, { value, until: Date.now() + ttlS * 1000 });
    while (this.items.size > this.max) this.items.delete(this.items.keys().next().value);
  }
  get(key) {
    const entry = this.items.get(key);
    if (!entry) return undefined;
    if (entry.until <= Date.now()) {
      this.items.delete(key);
      return undefined;
    }
    return entry.value;
  }
  take(key) {
    const value = this.get(key);
    this.items.delete(key);
    return value;
  }
  delete(key) {
    this.items.delete(key);
  }
  entries() {
    const now = Date.now();
    return [...this.items.entries()].filter(([, e]) => e.until > now).map(([k, e]) => [k, e.value]);
  }
  get size() {
    return this.items.size;
  }
}

class JWTService {
  constructor(config) {
    this.config = config;
    this.jwtCfg = config.jwt;
    this.codec = new TokenCodec(config.jwt);
    // Revocations this process wrote: honoured in degraded mode, when Redis cannot be asked.
    this.localRevocations = new ExpiringMap(100000);
    // Families issued while Redis was away, to be registered when it is back (or adopted on first refresh).
    this.pendingFamilies = new ExpiringMap(100000);
    // tokenId -> the id proposed by a rotation whose answer was lost: a retry completes it instead of "reuse".
    this.undelivered = new ExpiringMap(50000);
    for (const [name, s] of Object.entries(SCRIPTS)) defineScript(name, s.keys, s.lua);
  }

  // ---------------------------------------------------------------- issuing

  generateTokenPair(user, family, refreshTokenId, { fallback = false } = {}) {
    const { accessTtlS, refreshTtlS } = this.jwtCfg;
    const accessToken = this.codec.sign('access', { sub: user.id, tokenId: newId(), family }, accessTtlS);
    const refreshClaims = { sub: user.id, tokenId: refreshTokenId, family };
    if (fallback) refreshClaims.fb = true; // issued while Redis was away: its family may be adopted on refresh
    const refreshToken = this.codec.sign('refresh', refreshClaims, refreshTtlS);
    return { accessToken, refreshToken, expiresIn: accessTtlS };
  }

  /** A pair whose family is recorded in Redis first; throws StoreUnavailableError when it cannot be. */
  async issueTokenPair(user) {
    const family = newId();
    const refreshTokenId = newId();
    await this.registerFamily(family, user.id, refreshTokenId, Date.now());
    return this.generateTokenPair(user, family, refreshTokenId);
  }

  /** A well-formed pair (tokenId, family, type, fb) while Redis is away; its family is queued for registration. */
  issueFallbackTokenPair(user) {
    const family = newId();
    const refreshTokenId = newId();
    this.pendingFamilies.set(family, { sub: user.id, tokenId: refreshTokenId, issuedMs: Date.now() }, this.jwtCfg.refreshTtlS);
    return this.generateTokenPair(user, family, refreshTokenId, { fallback: true });
  }

  registerFamily(family, sub, tokenId, issuedMs) {
    return redisOperations.script(
      'acRegisterFamily',
      [keys.fam(family), keys.userfams(sub), keys.userrev(sub), keys.famrev(family)],
      [sub, tokenId, this.jwtCfg.refreshTtlS, family, issuedMs],
      THROW
    );
  }

  /** Write the families issued during the outage; stops at the first failure. Returns how many were written. */
  async registerPendingFamilies() {
    let written = 0;
    for (const [family, p] of this.pendingFamilies.entries()) {
      let result;
      try {
        result = await this.registerFamily(family, p.sub, p.tokenId, p.issuedMs);
      } catch (err) {
        break;
      }
      if (result === -1) this.localRevocations.set(`f:${family}`, true, this.jwtCfg.refreshTtlS);
      this.pendingFamilies.delete(family);
      written += 1;
    }
    if (written) logger.info(`registered ${written} families issued during the redis outage`);
    return written;
  }

  // ---------------------------------------------------------------- refresh

  async refreshTokens(refreshToken) {
    const claims = this.codec.verify(refreshToken, 'refresh');
    if (isLegacy(claims)) return this.upgradeLegacy(refreshToken, claims);
    const { sub, family, tokenId } = claims;
    if (this.isRevokedLocally(tokenId, family)) throw errors.tokenRevoked('Refresh token revoked');
    const proposed = this.undelivered.take(tokenId) || newId();
    let answer;
    try {
      answer = await redisOperations.script(
        'acRotateRefresh',
        [keys.fam(family), keys.famrev(family), keys.bl(tokenId), keys.userfams(sub), keys.userrev(sub)],
        [
          tokenId,
          proposed,
          Date.now(),
          Math.round(this.jwtCfg.reuseGraceS * 1000),
          this.jwtCfg.refreshTtlS,
          sub,
          claims.fb === true ? '1' : '0',
          family,
          (claims.iat + 1) * 1000,
        ],
        THROW
      );
    } catch (err) {
      // The script may have run and only its answer was lost: a retry must propose the same new id.
      if (err instanceof errors.StoreUnavailableError) this.undelivered.set(tokenId, proposed, 300);
      throw err;
    }
    const [status, current] = answer.map(String);
    if (status === 'ok' || status === 'grace') {
      if (claims.fb === true) this.pendingFamilies.delete(family);
      return this.generateTokenPair({ id: sub }, family, current);
    }
    throw this.refused(status, family);
  }

  refused(status, family) {
    if (status === 'reused') {
      this.localRevocations.set(`f:${family}`, true, this.jwtCfg.refreshTtlS);
      logger.warn('refresh token reuse detected: family revoked', { family });
      return errors.tokenReused('Refresh token reuse detected: every token of this session is revoked');
    }
    if (status === 'revoked') return errors.tokenRevoked('Refresh token revoked');
    if (status === 'unknown') return errors.tokenRevoked('Session not found (expired or lost): log in again');
    return errors.invalidToken('Token subject does not match its session');
  }

  /** A refresh token of the pre-fix shape (no type, or no tokenId/family): accepted once, moved into a new family. */
  async upgradeLegacy(refreshToken, claims) {
    const sub = claims.sub;
    const fp = fingerprint(refreshToken);
    const proposal = this.undelivered.take(`legacy:${fp}`) || { family: newId(), tokenId: newId() };
    let answer;
    try {
      answer = await redisOperations.script(
        'acUpgradeLegacy',
        [keys.legacy(fp), keys.bl(fp), keys.fam(proposal.family), keys.userfams(sub), keys.userrev(sub)],
        [
          proposal.family,
          sub,
          proposal.tokenId,
          this.remainingS(claims),
          this.jwtCfg.refreshTtlS,
          (claims.iat + 1) * 1000,
          keys.famrevPrefix,
        ],
        THROW
      );
    } catch (err) {
      if (err instanceof errors.StoreUnavailableError) this.undelivered.set(`legacy:${fp}`, proposal, 300);
      throw err;
    }
    const [status, owner] = answer.map(String);
    if (status === 'ok') {
      logger.info('legacy refresh token upgraded into a new family', { sub });
      return this.generateTokenPair({ id: sub }, proposal.family, proposal.tokenId);
    }
    if (status === 'reused') throw this.refused('reused', owner);
    throw errors.tokenRevoked('Refresh token revoked');
  }

  // ---------------------------------------------------------------- verifying

  verifyAccessToken(token) {
    return this.codec.verify(token, 'access');
  }

  /** The id an access token's revocation is keyed by: its tokenId, or a fingerprint for legacy tokens. */
  tokenIdOf(claims, token) {
    return typeof claims.tokenId === 'string' && claims.tokenId ? claims.tokenId : fingerprint(token);
  }

  isRevokedLocally(tokenId, family) {
    return Boolean(this.localRevocations.get(`t:${tokenId}`) || (family && this.localRevocations.get(`f:${family}`)));
  }

  /** Revocation, cached user record and logout-all time in one round trip (the auth middleware's hot path). */
  async authLookup(tokenId, family, sub) {
    const probe = [keys.bl(tokenId)];
    if (family) probe.push(keys.famrev(family));
    const [revoked, cached, userRevokedAt] = await redisOperations.pipeline(
      (p) => {
        p.exists(...probe);
        p.get(keys.usercache(sub));
        p.get(keys.userrev(sub));
      },
      THROW,
      'auth_lookup'
    );
    return { revoked: Number(revoked) > 0, cached, userRevokedAtMs: userRevokedAt ? Number(userRevokedAt) : null };
  }

  cacheUser(sub, record) {
    // Best effort: a failed cache write costs one more lookup, nothing else.
    return redisOperations.set(keys.usercache(sub), JSON.stringify(record), this.config.userCacheTtlS, null);
  }

  // ---------------------------------------------------------------- revoking

  /** Seconds a token can still be accepted, rounded UP (a revocation must never end before its token). */
  remainingS(claims) {
    const left = Math.ceil(claims.exp + this.jwtCfg.leewayS - Date.now() / 1000);
    return Math.min(Math.max(left, 0), MAX_TTL_S);
  }

  /** What revoking one verified token writes: {tokenId, ttl, family?, legacy?}. */
  revocationOf(kind, claims, token) {
    const ttl = this.remainingS(claims);
    if (kind === 'refresh' && isLegacy(claims)) return { legacy: fingerprint(token), ttl };
    const rev = { tokenId: this.tokenIdOf(claims, token), ttl };
    if (kind === 'refresh' && typeof claims.family === 'string') rev.family = claims.family;
    return rev;
  }

  /** Revoke one token (access or refresh; a refresh token takes its family with it). */
  async blacklistToken(token) {
    let kind;
    let claims;
    try {
      [kind, claims] = this.codec.verifyAny(token);
    } catch (err) {
      if (err instanceof errors.AppError) return err.code === 'TOKEN_EXPIRED' ? 'expired' : 'invalid';
      throw err;
    }
    if (this.remainingS(claims) <= 0) return 'expired';
    await this.storeRevocations([this.revocationOf(kind, claims, token)], 'blacklist');
    return 'blacklisted';
  }

  /**
   * Revoke many tokens in ONE pipeline (TTL = each token's remaining lifetime, rounded up). Expired and invalid
   * tokens are counted, not written. Validation yields the event loop every few ms so a 10,000-token batch does
   * not stall other requests. Repeating a call changes nothing.
   */
  async batchBlacklistTokens(tokens) {
    let expired = 0;
    let invalid = 0;
    const revocations = [];
    let sliceStart = Date.now();
    for (const token of tokens) {
      if (Date.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = Date.now();
      }
      let kind;
      let claims;
      try {
        [kind, claims] = this.codec.verifyAny(token);
      } catch (err) {
        if (!(err instanceof errors.AppError)) throw err;
        if (err.code === 'TOKEN_EXPIRED') expired += 1;
        else invalid += 1;
        continue;
      }
      if (this.remainingS(claims) <= 0) {
        expired += 1;
        continue;
      }
      revocations.push(this.revocationOf(kind, claims, token));
    }
    await this.storeRevocations(revocations, 'batch_blacklist');
    return { blacklisted: tokens.length - expired - invalid, expired, invalid };
  }

  /** One pipelined round trip for all revocations, then remembered locally. Returns the families revoked. */
  async storeRevocations(revocations, name) {
    const tokenTtl = new Map();
    const legacyTtl = new Map();
    const families = new Set();
    for (const r of revocations) {
      if (r.tokenId) tokenTtl.set(r.tokenId, Math.max(r.ttl, tokenTtl.get(r.tokenId) || 0, 1));
      if (r.legacy) legacyTtl.set(r.legacy, Math.max(r.ttl, legacyTtl.get(r.legacy) || 0, 1));
      if (r.family) families.add(r.family);
    }
    if (!tokenTtl.size && !legacyTtl.size && !families.size) return families;
    const famTtl = this.jwtCfg.refreshTtlS + this.jwtCfg.leewayS;
    const answers = await redisOperations.pipeline(
      (p) => {
        for (const [id, ttl] of tokenTtl) p.set(keys.bl(id), '1', 'EX', ttl);
        for (const family of families) p.set(keys.famrev(family), '1', 'EX', famTtl);
        for (const [fp, ttl] of legacyTtl) p.acRevokeLegacy(keys.bl(fp), keys.legacy(fp), ttl, famTtl, keys.famrevPrefix);
      },
      THROW,
      name
    );
    for (const owner of answers.slice(tokenTtl.size + families.size)) if (owner) families.add(String(owner));
    for (const [id, ttl] of [...tokenTtl, ...legacyTtl]) this.localRevocations.set(`t:${id}`, true, ttl);
    for (const family of families) this.localRevocations.set(`f:${family}`, true, famTtl);
    return families;
  }

  /**
   * Logout: the access token, its session (family), and the refresh token named in the body. With `all`, every
   * family of the user plus a logout-all time, so tokens that carry no registered family (legacy, or issued during
   * an outage on any process) are ended too. Returns the number of sessions revoked (at least 1).
   */
  async logout(accessClaims, accessToken, refreshToken, all) {
    const sub = accessClaims.sub;
    const revocations = [
      { tokenId: this.tokenIdOf(accessClaims, accessToken), ttl: Math.max(1, this.remainingS(accessClaims)) },
    ];
    if (typeof accessClaims.family === 'string') revocations.push({ family: accessClaims.family, ttl: 1 });
    if (refreshToken !== undefined && refreshToken !== null) {
      const refreshClaims = this.codec.verify(refreshToken, 'refresh');
      if (refreshClaims.sub !== sub) throw errors.forbidden('The refresh token belongs to another user');
      revocations.push(this.revocationOf('refresh', refreshClaims, refreshToken));
    }
    if (all) {
      const revoked = await redisOperations.script(
        'acRevokeUser',
        [keys.userfams(sub), keys.userrev(sub)],
        [this.jwtCfg.refreshTtlS + this.jwtCfg.leewayS, keys.famrevPrefix, Date.now()],
        THROW
      );
      for (const family of revoked || []) revocations.push({ family: String(family), ttl: 1 });
      for (const [family, p] of this.pendingFamilies.entries()) {
        if (p.sub === sub) {
          revocations.push({ family, ttl: 1 });
          this.pendingFamilies.delete(family);
        }
      }
    }
    const families = await this.storeRevocations(revocations, all ? 'logout_all' : 'logout');
    return Math.max(families.size, 1);
  }
}

module.exports = { JWTService, ExpiringMap };
