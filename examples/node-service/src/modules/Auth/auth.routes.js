'use strict';
// Routes under /api/v1/auth. Authenticated routes check the bearer token (and the admin role) BEFORE their body
// is read, so a stranger's body is never parsed.

const express = require('express');
const { asyncHandler } = require('../../middlewares/errorHandler');
const { requireRole } = require('../../middlewares/authWithCache');

function createAuthRouter({ config, controller, oauthCallback, authWithCache }) {
  const router = express.Router();
  const json = express.json({ limit: config.maxBodyBytes, strict: true });
  const bigJson = express.json({ limit: config.blacklistMaxBodyBytes, strict: true });

  router.post('/login', json, asyncHandler(controller.login));
  router.post('/refresh', json, asyncHandler(controller.refresh));
  router.post('/logout', authWithCache, json, asyncHandler(controller.logout));
  router.post('/blacklist', authWithCache, requireRole('admin'), bigJson, asyncHandler(controller.blacklist));
  router.get('/me', authWithCache, asyncHandler(controller.me));
  router.get('/oauth/callback', asyncHandler(oauthCallback));
  return router;
}

module.exports = { createAuthRouter };
