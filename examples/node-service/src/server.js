'use strict';
// Entry point: `node src/server.js`. Binds 127.0.0.1:$PORT. See API.md for the environment.

const { loadConfig, ConfigError } = require('./config');
const { redactUrl } = require('./config/redis');
const { buildServices, createApp } = require('./app');
const logger = require('./utils/logger');

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`config error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const services = buildServices(config);
const app = createApp(services);
const { redis, jwtService } = services;

// Recovery probe: while Redis is not ready, PING every REDIS_PROBE_INTERVAL_MS; once it is, register the families
// issued during the outage.
let probing = false;
const probeTimer = setInterval(async () => {
  if (probing) return;
  probing = true;
  try {
    if (redis.state.state !== 'ready') await redis.probe();
    if (redis.state.state === 'ready' && jwtService.pendingFamilies.size) await jwtService.registerPendingFamilies();
  } catch (err) {
    logger.error('redis probe failed unexpectedly', { error: String(err && err.message) });
  } finally {
    probing = false;
  }
}, config.redis.probeIntervalMs);
probeTimer.unref();

redis.connect().then(() => redis.probe());

const server = app.listen(config.port, config.host, () => {
  const addr = server.address();
  logger.info(`authchaos node service listening on http://${addr.address}:${addr.port}`, {
    redis: redactUrl(config.redis.url),
    profile: config.redis.profile,
    bugs: [...config.bugs],
  });
});
server.keepAliveTimeout = 5000;

process.on('unhandledRejection', (reason) => {
  logger.error('unhandled rejection', { error: String((reason && reason.message) || reason).slice(0, 200) });
});

function shutdown(signal) {
  logger.info(`${signal}: shutting down`);
  clearInterval(probeTimer);
  server.close();
  redis.quit().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
