'use strict';
/**
 * Signing and verifying (jsonwebtoken, HS256 only). Token kinds are kept apart by separate secrets, the `type`
 * claim and the `typ` header (RFC 8725 3.11/3.12): a token that verifies with the access secret is never a
 * refresh token, whatever its claims say. Every failure is an AppError (401), never a raw exception.
 */

const crypto = require('crypto');
const jwt = require('jsonwebtoken');
const errors = require('../../utils/errors');

const ALG = 'HS256';
const TYP = { access: 'at+jwt', refresh: 'rt+jwt' };
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const FORBIDDEN_HEADERS = ['crit', 'b64', 'jku', 'x5u', 'jwk', 'x5c'];
const MAX_HEADER_CHARS = 1400;

function newId() {
  return crypto.randomBytes(16).toString('base64url');
}

/** A stable id for a token that carries no tokenId (legacy shapes). */
function fingerprint(token) {
  return 'h-' + crypto.createHash('sha256').update(token).digest('hex').slice(0, 32);
}

function isLegacy(claims) {
  return !claims.type || !claims.tokenId || !claims.family;
}

// jsonwebtoken 9 probes a string secret with createPublicKey() on every sign and verify (about 0.7 ms, a thrown
// error each time); a KeyObject made once skips the probe. The service has two secrets: cache their KeyObjects.
const keyObjects = new Map();
function keyObject(secret) {
  let key = keyObjects.get(secret);
  if (!key) {
    key = crypto.createSecretKey(Buffer.from(secret, 'utf8'));
    if (keyObjects.size < 16) keyObjects.set(secret, key);
  }
  return key;
}

function hmacMatches(token, secret) {
  const dot = token.lastIndexOf('.');
  const expected = crypto.createHmac('sha256', keyObject(secret)).update(token.slice(0, dot)).digest();
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

class TokenCodec {
  constructor(jwtCfg) {
    this.cfg = jwtCfg;
    this.secrets = { access: jwtCfg.accessSecret, refresh: jwtCfg.refreshSecret };
    this.kids = { access: jwtCfg.accessKid || '', refresh: jwtCfg.refreshKid || '' };
    this.retired = jwtCfg.refreshRetired || []; // refresh keys no longer used to sign, still accepted
  }

  /** The secret a token of `kind` was signed with: the current one, or a retired refresh key (by kid, or, for
   * tokens signed before kids existed, by signature). */
  secretFor(kind, header, token) {
    const current = this.secrets[kind];
    if (kind !== 'refresh' || !this.retired.length || (header.kid && header.kid === this.kids.refresh)) return current;
    if (header.kid) {
      const old = this.retired.find((r) => r.kid && r.kid === header.kid);
      return old ? old.secret : current;
    }
    if (hmacMatches(token, current)) return current;
    const old = this.retired.find((r) => hmacMatches(token, r.secret));
    return old ? old.secret : current;
  }

  refreshSigned(token) {
    return hmacMatches(token, this.secrets.refresh) || this.retired.some((r) => hmacMatches(token, r.secret));
  }

  isRetiredKid(kind, kid) {
    return kind === 'refresh' && Boolean(kid) && this.retired.some((r) => r.kid === kid);
  }

  /** Sign `claims` plus type/iat/exp/iss/aud as a token of `kind`. */
  sign(kind, claims, ttlS, nowS = Math.floor(Date.now() / 1000)) {
    const payload = {
      ...claims,
      type: kind,
      iat: nowS,
      exp: nowS + ttlS,
      iss: this.cfg.issuer,
      aud: this.cfg.audience,
    };
    return this.signRaw(this.secrets[kind], payload, { typ: TYP[kind], kid: this.kids[kind] || undefined });
  }

  /** Sign exactly `payload` (the legacy fallback generator, test tokens). */
  signRaw(secret, payload, { typ, kid } = {}) {
    const header = { alg: ALG, typ: typ || 'JWT' };
    if (kid) header.kid = kid;
    // jsonwebtoken keeps payload.iat when present (noTimestamp would delete it)
    return jwt.sign(payload, keyObject(secret), { algorithm: ALG, header });
  }

  header(token) {
    if (typeof token !== 'string' || !token) throw errors.invalidToken('Missing token');
    if (token.length > this.cfg.maxTokenBytes) throw errors.invalidToken(`Token larger than ${this.cfg.maxTokenBytes} bytes`);
    if (!SHAPE.test(token)) throw errors.invalidToken('Malformed token');
    const head = token.slice(0, token.indexOf('.'));
    if (head.length > MAX_HEADER_CHARS) throw errors.invalidToken('Malformed token: header too large');
    let header;
    try {
      header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
    } catch (err) {
      throw errors.invalidToken('Malformed token');
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw errors.invalidToken('Malformed token');
    if (header.alg !== ALG) throw errors.invalidToken('Unsupported token algorithm');
    if (FORBIDDEN_HEADERS.some((h) => Object.prototype.hasOwnProperty.call(header, h))) {
      throw errors.invalidToken('Unsupported token header');
    }
    if (header.kid !== undefined && typeof header.kid !== 'string') throw errors.invalidToken('Malformed token header');
    if (header.typ !== undefined && typeof header.typ !== 'string') throw errors.invalidToken('Malformed token header');
    return header;
  }

  /** Verify `token` as `kind` ("access" | "refresh"); returns the claims or throws a 401 AppError. */
  verify(token, kind) {
    const header = this.header(token);
    const other = kind === 'access' ? 'refresh' : 'access';
    const typ = (header.typ || 'JWT').toLowerCase();
    if (typ === TYP[other] || (header.kid && header.kid === this.kids[other])) throw this.wrongKind(kind);
    if (header.kid && this.kids[kind] && header.kid !== this.kids[kind] && !this.isRetiredKid(kind, header.kid)) {
      throw errors.invalidToken('Unknown signing key');
    }
    let claims;
    try {
      claims = jwt.verify(token, keyObject(this.secretFor(kind, header, token)), {
        algorithms: [ALG],
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        clockTolerance: this.cfg.leewayS,
      });
    } catch (err) {
      if (err && err.name === 'TokenExpiredError') throw errors.tokenExpired('Token expired');
      if (err && err.message === 'invalid signature') {
        if (kind === 'refresh' && hmacMatches(token, this.secrets.access)) {
          throw errors.invalidToken(errors.INVALID_TYPE_FOR_REFRESH);
        }
        if (kind === 'access' && hmacMatches(token, this.secrets.refresh)) throw this.wrongKind(kind);
        throw errors.invalidToken('Invalid token signature');
      }
      if (err && (err.name === 'JsonWebTokenError' || err.name === 'NotBeforeError')) {
        throw errors.invalidToken(`Invalid token: ${String(err.message).slice(0, 120)}`);
      }
      throw errors.invalidToken('Malformed token');
    }
    return this.checkClaims(claims, kind);
  }

  /** Verify a token of either kind (to revoke it): [kind, claims]. */
  verifyAny(token) {
    const header = this.header(token);
    const typ = (header.typ || '').toLowerCase();
    let first = 'access';
    if (typ === TYP.refresh || (header.kid && header.kid === this.kids.refresh) || this.isRetiredKid('refresh', header.kid)) {
      first = 'refresh';
    } else if (typ !== TYP.access && !(header.kid && header.kid === this.kids.access) && this.refreshSigned(token)) {
      first = 'refresh'; // no kind on it: the key that signed it decides (a retired refresh key included)
    }
    return [first, this.verify(token, first)];
  }

  checkClaims(claims, kind) {
    if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw errors.invalidToken('Invalid token: claims must be an object');
    if (claims.type !== undefined && claims.type !== kind) throw this.wrongKind(kind);
    if (typeof claims.sub !== 'string' || !claims.sub) throw errors.invalidToken('Invalid token: sub must be a non-empty string');
    if (!Number.isSafeInteger(claims.exp) || !Number.isSafeInteger(claims.iat)) {
      throw errors.invalidToken('Invalid token: exp and iat must be integers');
    }
    const nowS = Math.floor(Date.now() / 1000);
    if (claims.iat > nowS + this.cfg.leewayS) throw errors.invalidToken('Invalid token: issued in the future');
    for (const name of ['tokenId', 'family']) {
      if (claims[name] !== undefined && (typeof claims[name] !== 'string' || claims[name].length > 256)) {
        throw errors.invalidToken(`Invalid token: ${name} must be a string`);
      }
    }
    if (kind === 'access' && claims.type === undefined) {
      // A legacy (typeless) access token lives at most one access lifetime from its iat, whatever its exp.
      const limit = claims.iat + this.cfg.accessTtlS + this.cfg.leewayS;
      if (nowS > limit) throw errors.tokenExpired('Token expired (legacy access tokens live one access lifetime)');
      claims.exp = Math.min(claims.exp, limit);
    }
    return claims;
  }

  wrongKind(kind) {
    if (kind === 'refresh') return errors.invalidToken(errors.INVALID_TYPE_FOR_REFRESH);
    return errors.invalidToken('Invalid token type: an access token is required');
  }
}

module.exports = { TokenCodec, newId, fingerprint, isLegacy, TYP };
