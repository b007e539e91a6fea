'use strict';
// Wiring: builds every object from one config, once, and the Express app on top of them.

const express = require('express');
const { initRedis, getManager } = require('./config/redis');
const { JWTService } = require('./services/auth/JWTService');
const { RedisCleanupService } = require('./services/redis/RedisCleanupService');
const { AuthService } = require('./modules/Auth/auth.service');
const { UserDirectory } = require('./modules/Auth/users');
const { createAuthController } = require('./modules/Auth/auth.controller');
const { createOAuthController } = require('./modules/Auth/oauth.controller');
const { createAuthRouter } = require('./modules/Auth/auth.routes');
const { createAuthWithCache, requireRole } = require('./middlewares/authWithCache');
const { errorHandler, notFoundHandler, asyncHandler } = require('./middlewares/errorHandler');
const { createLoadShedding } = require('./middlewares/loadShedding');

function buildServices(config) {
  const redis = initRedis(config);
  const jwtService = new JWTService(config);
  if (config.bugs.has('missing_batch_blacklist')) {
    // The seed's bug: the route calls jwtService.batchBlacklistTokens, which did not exist.
    jwtService.batchBlacklistTokens = undefined;
  }
  const users = new UserDirectory(config.users);
  const authService = new AuthService({ config, jwtService, users });
  const cleanup = new RedisCleanupService({ refreshTtlS: config.jwt.refreshTtlS });
  return { config, redis, jwtService, users, authService, cleanup };
}

function createApp(services) {
  const { config, jwtService, users, authService, cleanup } = services;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  const { loadShedding, load } = createLoadShedding({ maxInflight: config.maxInflight });
  app.use(loadShedding);

  const authWithCache = createAuthWithCache({ config, jwtService, users });
  const controller = createAuthController({ config, authService, jwtService });
  const oauthCallback = createOAuthController({ config, authService, users });
  app.use('/api/v1/auth', createAuthRouter({ config, controller, oauthCallback, authWithCache }));

  app.post(
    '/api/v1/admin/redis/cleanup',
    authWithCache,
    requireRole('admin'),
    express.json({ limit: config.maxBodyBytes }),
    asyncHandler(async (req, res) => {
      const dryRun = Boolean(req.body && req.body.dryRun === true);
      res.json({ success: true, data: await cleanup.run({ dryRun }) });
    })
  );

  app.get('/healthz', (req, res) => {
    const m = getManager();
    const age = m.state.outageAgeS();
    res.json({
      status: m.state.state === 'ready' ? 'ok' : 'degraded',
      redis: {
        state: m.state.state,
        breaker: m.breaker.state,
        outageSeconds: age === null ? null : Math.round(age * 1000) / 1000,
        profile: config.redis.profile,
      },
      pendingFamilies: jwtService.pendingFamilies.size,
      load: { inflight: load.inflight, shed: load.shed },
    });
  });

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

module.exports = { buildServices, createApp };
