'use strict';
/**
 * OAuth callback with a network-free demo provider: GET /api/v1/auth/oauth/callback?provider=demo&code=user:<name>.
 * The demo provider is off when NODE_ENV=production (or OAUTH_DEMO=0). Issues a pair like login, with the same
 * fallback generator when Redis is away.
 */

const errors = require('../../utils/errors');

const PROVIDERS = ['demo'];

function createOAuthController({ config, authService, users }) {
  return async function oauthCallback(req, res) {
    const { provider, code } = req.query;
    if (typeof provider !== 'string' || typeof code !== 'string' || !provider || !code) {
      throw errors.invalidGrant('provider and code query parameters are required');
    }
    if (!PROVIDERS.includes(provider)) {
      throw errors.invalidGrant(`Unknown OAuth provider; supported: ${PROVIDERS.join(', ')}`);
    }
    if (provider === 'demo' && !config.oauthDemo) {
      throw errors.invalidGrant("OAuth provider 'demo' is disabled (never on in production)");
    }
    const match = /^user:(.+)$/.exec(code);
    if (!match) throw errors.invalidGrant('Invalid authorization code: the demo provider expects code=user:<username>');
    const user = users.findByUsername(match[1]);
    if (!user) throw errors.invalidCredentials('No account is linked to this OAuth identity');
    const tokens = await authService.issueSession(user);
    res.json({ success: true, data: { ...tokens, tokenType: 'Bearer' } });
  };
}

module.exports = { createOAuthController };
