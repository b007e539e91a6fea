'use strict';
// Thin handlers: validate the body, call one service method, shape {"success": true, "data": ...}.

const errors = require('../../utils/errors');

function isPlainObject(body) {
  return body !== null && typeof body === 'object' && !Array.isArray(body);
}

function bodyOf(req, { optional = false } = {}) {
  const body = req.body;
  if (body === undefined || (isPlainObject(body) && Object.keys(body).length === 0 && optional)) return {};
  if (!isPlainObject(body)) throw errors.badRequest('Request body must be a JSON object');
  return body;
}

function requireString(body, name, max) {
  const value = body[name];
  if (typeof value !== 'string' || !value) throw errors.badRequest(`${name}: a non-empty string is required`);
  if (value.length > max) throw errors.badRequest(`${name}: at most ${max} characters`);
  return value;
}

function pair(tokens) {
  return { success: true, data: { ...tokens, tokenType: 'Bearer' } };
}

function createAuthController({ config, authService, jwtService }) {
  return {
    async login(req, res) {
      const body = bodyOf(req);
      const username = requireString(body, 'username', 256);
      const password = requireString(body, 'password', 1024);
      res.json(pair(await authService.login(username, password)));
    },

    async refresh(req, res) {
      const body = bodyOf(req);
      const token = body.refreshToken;
      if (typeof token !== 'string' || !token) throw errors.badRequest('refreshToken: a non-empty string is required');
      res.json(pair(await authService.refresh(token)));
    },

    async logout(req, res) {
      const body = bodyOf(req, { optional: true });
      if (body.refreshToken !== undefined && body.refreshToken !== null && typeof body.refreshToken !== 'string') {
        throw errors.badRequest('refreshToken: must be a string');
      }
      if (body.all !== undefined && typeof body.all !== 'boolean') throw errors.badRequest('all: must be a boolean');
      const revoked = await authService.logout(req.auth, body.refreshToken || undefined, body.all === true);
      res.json({ success: true, data: { revoked } });
    },

    async blacklist(req, res) {
      const body = bodyOf(req);
      if (typeof body.token === 'string' && body.tokens === undefined) {
        const outcome = await jwtService.blacklistToken(body.token);
        const counts = { blacklisted: 0, expired: 0, invalid: 0 };
        counts[outcome] = 1;
        return res.json({ success: true, data: counts });
      }
      if (!Array.isArray(body.tokens)) throw errors.badRequest('tokens: an array of strings is required (or token: a string)');
      if (body.tokens.length > config.blacklistMax) {
        throw errors.payloadTooLarge(`At most ${config.blacklistMax} tokens per request; split the batch`);
      }
      // The route has always called batchBlacklistTokens; under the missing_batch_blacklist switch it does not exist.
      const result = await jwtService.batchBlacklistTokens(body.tokens);
      return res.json({ success: true, data: result });
    },

    async me(req, res) {
      res.json({ success: true, data: { user: authService.profile(req.auth), degraded: req.auth.degraded } });
    },
  };
}

module.exports = { createAuthController };
