'use strict';
// Entry point: `node src/server.js`. Binds 127.0.0.1:$PORT. See API.md for the environment.
// WORKERS=N (default 1) runs N processes on the one port (node:cluster), as a multi-worker deployment would:
// each has its own Redis client and process memory, so only Redis carries state between them.

const cluster = require('node:cluster');

const WORKERS = Math.max(1, Math.min(16, Number.parseInt(process.env.WORKERS || '1', 10) || 1));
if (WORKERS > 1 && cluster.isPrimary) {
  const children = [];
  for (let i = 0; i < WORKERS; i += 1) children.push(cluster.fork());
  let stopping = false;
  const stop = (signal) => {
    stopping = true;
    for (const child of children) child.process.kill(signal);
    setTimeout(() => process.exit(0), 3000).unref();
  };
  cluster.on('exit', () => {
    if (!stopping) {
      children.push(cluster.fork()); // a worker died: start another, as a supervisor would
      return;
    }
    if (Object.keys(cluster.workers || {}).length === 0) process.exit(0);
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return;
}

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

// Listen once the first connection attempt has settled: ready, failed, or out of time (connect + command timeout).
// A request let in while the client is still connecting would find "Redis unavailable" and be answered degraded
// (a revoked token accepted) while Redis is healthy: a restarted process must not fail open for its first
// milliseconds. Redis down at startup only delays listening by that bound; logins then get fallback tokens.
const settled = redis.connect().then(() => redis.probe()).catch(() => {});
let boundTimer = null;
const bound = new Promise((resolve) => {
  boundTimer = setTimeout(resolve, config.redis.connectTimeoutMs + config.redis.commandTimeoutMs);
});
let server = null;
Promise.race([settled, bound]).then(() => {
  clearTimeout(boundTimer);
  server = app.listen(config.port, config.host, () => {
    const addr = server.address();
    logger.info(`authchaos node service listening on http://${addr.address}:${addr.port}`, {
      redis: redactUrl(config.redis.url),
      profile: config.redis.profile,
      redisState: redis.state.state,
      bugs: [...config.bugs],
    });
  });
  server.keepAliveTimeout = 5000;
});

process.on('unhandledRejection', (reason) => {
  logger.error('unhandled rejection', { error: String((reason && reason.message) || reason).slice(0, 200) });
});

function shutdown(signal) {
  logger.info(`${signal}: shutting down`);
  clearInterval(probeTimer);
  if (server) server.close();
  redis.quit().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
