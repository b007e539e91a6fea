'use strict';
/**
 * The fallback token generator, used by login and by the OAuth callback when Redis cannot record a new session.
 *
 * Fixed: a well-formed pair (tokenId, family, type, plus `fb: true`) whose family is registered when Redis is
 * back, or adopted on its first refresh, so a user who logged in during an outage can refresh afterwards.
 *
 * Bug switch `legacy_fallback_tokens` (the seed's headline bug): the original controller's own generator signed a
 * bare {sub, userId, username} payload with the ACCESS secret for both tokens, without tokenId/family/type, so
 * the next refresh failed with "Invalid token type for refresh".
 */

const logger = require('../../utils/logger');

function generateFallbackTokens(jwtService, config, user) {
  logger.warn('redis unavailable: issuing fallback tokens', { sub: user.id });
  if (config.bugs.has('legacy_fallback_tokens')) {
    const { accessSecret, accessTtlS, refreshTtlS, issuer, audience } = config.jwt;
    const now = Math.floor(Date.now() / 1000);
    const base = { sub: user.id, userId: user.id, username: user.username, iat: now, iss: issuer, aud: audience };
    const codec = jwtService.codec;
    return {
      accessToken: codec.signRaw(accessSecret, { ...base, exp: now + accessTtlS }),
      refreshToken: codec.signRaw(accessSecret, { ...base, exp: now + refreshTtlS }),
      expiresIn: accessTtlS,
    };
  }
  return jwtService.issueFallbackTokenPair(user);
}

module.exports = { generateFallbackTokens };
