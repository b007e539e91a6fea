'use strict';
/**
 * The unified Redis client (fix 2 and 4 of the seed): ONE ioredis client for the whole service, connection
 * state tracking, reconnect with exponential backoff, `safeRedisOperation` and the `redisOperations` wrapper,
 * and a circuit breaker so that a dead Redis costs microseconds instead of a command timeout.
 *
 * Two option profiles (REDIS_PROFILE):
 *
 *   as_shipped  the original's options, byte for byte:
 *                 family: 4, maxRetriesPerRequest: 3, retryDelayOnFailover: 100, enableReadyCheck: false,
 *                 maxLoadingTimeout: 1000, lazyConnect: true, keepAlive: 30000, connectTimeout: 10000,
 *                 commandTimeout: 5000, tls: {} (Upstash)
 *               What ioredis 5 does with them, for a standalone client (checked against
 *               node_modules/ioredis/built/redis/RedisOptions.d.ts and Redis.js):
 *                 - retryDelayOnFailover: IGNORED. It is a Cluster option (ClusterOptions.retryDelayOnFailover).
 *                 - maxLoadingTimeout: IGNORED. No such option exists in ioredis 5; the nearest one is
 *                   maxLoadingRetryTime (default 10000), which only the ready check uses, and the ready check
 *                   is off here (enableReadyCheck: false).
 *                 - family, lazyConnect, keepAlive (initial delay of TCP keepalive, ms), connectTimeout,
 *                   commandTimeout, maxRetriesPerRequest, enableReadyCheck, tls: take effect.
 *                 - enableOfflineQueue is left at its default (true): while disconnected, commands queue; each
 *                   still fails after commandTimeout (5 s), so under a blackhole every request waits 5 s per
 *                   Redis call until the breaker opens.
 *   production  (the DEFAULT; REDIS_PROFILE=production or unset) fail fast:
 *                 commandTimeout 500 ms, connectTimeout 500 ms (REDIS_COMMAND_TIMEOUT_MS,
 *                 REDIS_CONNECT_TIMEOUT_MS), enableOfflineQueue: false (a command sent while disconnected fails
 *                 at once), maxRetriesPerRequest: 0 (a command in flight when the connection drops fails at once;
 *                 the service's own retry memory makes a client's retry of a refresh safe), the same keepalive and
 *                 family, the connection opened at start (lazyConnect plus an explicit connect(): with the
 *                 offline queue off, a lazy client would refuse its first command).
 *
 * Both profiles: TLS when the URL is rediss:// or REDIS_TLS_CA names a CA file; retryStrategy reconnects for
 * ever with exponential backoff and jitter; the breaker (3 failures, 1 s reset, one half-open probe) sits in
 * front of every call.
 */

const fs = require('fs');
const Redis = require('ioredis');
const { CircuitBreaker } = require('./circuitBreaker');
const { StoreUnavailableError } = require('../utils/errors');
const logger = require('../utils/logger');

const THROW = Symbol('no fallback: throw StoreUnavailableError');

// Error replies that mean "no usable primary right now": an outage, not a refused command.
const OUTAGE_REPLIES = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY)\b/;

function backoff(baseMs, capMs) {
  return (times) => {
    const exp = Math.min(capMs, baseMs * 2 ** Math.min(times - 1, 16));
    return Math.round(exp / 2 + (Math.random() * exp) / 2); // "equal jitter"
  };
}

function tlsOptions(url, caPath) {
  const wantsTls = url.startsWith('rediss://') || Boolean(caPath);
  if (!wantsTls) return undefined;
  const tls = {};
  if (caPath) tls.ca = fs.readFileSync(caPath);
  return tls;
}

/** The ioredis options of one profile (see the comment at the top). */
function buildRedisOptions(redisCfg) {
  const tls = tlsOptions(redisCfg.url, redisCfg.tlsCa);
  if (redisCfg.profile === 'as_shipped') {
    return {
      family: 4,
      maxRetriesPerRequest: 3,
      retryDelayOnFailover: 100, // ignored by a standalone client (Cluster option)
      enableReadyCheck: false,
      maxLoadingTimeout: 1000, // ignored: not an ioredis 5 option
      lazyConnect: true,
      keepAlive: 30000,
      connectTimeout: redisCfg.connectTimeoutMs, // 10000 unless overridden
      commandTimeout: redisCfg.commandTimeoutMs, // 5000 unless overridden
      retryStrategy: backoff(50, 2000),
      ...(tls ? { tls } : {}),
    };
  }
  return {
    family: 4,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    lazyConnect: true,
    keepAlive: 30000,
    connectTimeout: redisCfg.connectTimeoutMs,
    commandTimeout: redisCfg.commandTimeoutMs,
    retryStrategy: backoff(25, 1000),
    reconnectOnError: (err) => (String(err && err.message).startsWith('READONLY') ? 2 : false),
    // no connectionName: its CLIENT SETNAME handshake, swallowed by a blackhole, would leave the client short of
    // ready on a socket that never answers
    ...(tls ? { tls } : {}),
  };
}

/** Redacts the password of a Redis URL for logs. */
function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch (err) {
    return '<unparseable REDIS_URL>';
  }
}

/**
 * Connection state: connecting (nothing answered yet), ready, degraded (failures below the breaker threshold),
 * down (breaker open). One log line per change. An outage is one episode from its first failure until Redis has
 * answered for `settleS` seconds without a single failure.
 */
class ConnectionState {
  constructor({ settleS = 10, now = Date.now } = {}) {
    this.state = 'connecting';
    this.since = now();
    this.now = now;
    this.settleMs = settleS * 1000;
    this.outageStartedAt = null;
    this.lastFailureAt = null;
    this.lastError = null;
    this.listeners = [];
  }

  mark(next, reason) {
    const now = this.now();
    if (reason) this.lastError = reason;
    if (next !== 'ready') {
      if (this.outageAgeS() === null) this.outageStartedAt = now;
      this.lastFailureAt = now;
    }
    if (next === this.state) return;
    const prev = this.state;
    this.state = next;
    this.since = now;
    if (next === 'ready') logger.info(`redis state ${prev} -> ${next}`);
    else logger.warn(`redis state ${prev} -> ${next}`, { reason: this.lastError });
    for (const fn of this.listeners) fn(prev, next);
  }

  /** Seconds since this outage began, or null when there is none (settled). */
  outageAgeS() {
    if (this.outageStartedAt === null) return null;
    const now = this.now();
    const settled = this.lastFailureAt === null || now - this.lastFailureAt >= this.settleMs;
    if (this.state === 'ready' && settled) {
      this.outageStartedAt = null;
      return null;
    }
    return (now - this.outageStartedAt) / 1000;
  }
}

function describe(err) {
  if (!err) return 'unknown error';
  return `${err.name || 'Error'}: ${String(err.message || err).slice(0, 200)}`;
}

function isTimeout(err) {
  return Boolean(err) && /timed out|timeout/i.test(String(err.message));
}

/** "ready" on a stream that no longer writes: the socket was ended but never closed. */
function isStuck(err, client) {
  return client.status === 'ready' && /Stream isn't writeable/.test(String(err && err.message));
}

function isRefusal(err) {
  return err && err.name === 'ReplyError' && !OUTAGE_REPLIES.test(String(err.message));
}

class RedisManager {
  constructor(config) {
    this.config = config;
    this.redisCfg = config.redis;
    this.unsafe = config.bugs.has('unsafe_redis');
    this.state = new ConnectionState({ settleS: this.redisCfg.outageSettleS });
    this.breaker = new CircuitBreaker({ threshold: this.redisCfg.breakerThreshold, resetMs: this.redisCfg.breakerResetMs });
    this.client = new Redis(this.redisCfg.url, buildRedisOptions(this.redisCfg));
    this.closing = false;
    this.scripts = new Map(); // Lua commands, defined again on a replacement client
    this.refusalsReported = new Set();
    this.lastErrorLogged = 0;
    this.attachEvents();
  }

  attachEvents() {
    const c = this.client;
    c.on('error', (err) => {
      // ioredis emits one per failed (re)connect: keep the log to one line every 5 s.
      const now = Date.now();
      if (now - this.lastErrorLogged > 5000) {
        this.lastErrorLogged = now;
        logger.debug('redis client error', { error: describe(err) });
      }
    });
    c.on('close', () => {
      if (this.closing) return;
      if (this.state.state === 'ready' || this.state.state === 'connecting') {
        this.state.mark('degraded', 'connection closed');
      }
    });
    c.on('ready', () => {
      if (this.closing) return;
      this.breaker.readyNow(); // a fresh connection may be tried at once, not after the breaker's reset time
      this.probe().catch(() => {});
    });
  }

  /** Open the connection now (the production profile needs it: its offline queue is off). */
  async connect() {
    if (this.client.status !== 'wait') return;
    try {
      await this.client.connect();
    } catch (err) {
      this.onFailure('connect', err);
    }
  }

  /**
   * Run fn(client) (one round trip) behind the breaker. On a Redis failure return `fallback`, or, when no
   * fallback is given (undefined or THROW), throw StoreUnavailableError. Never lets a raw Redis error out,
   * except under the `unsafe_redis` bug switch.
   */
  async safeRedisOperation(fn, fallback = THROW, name = 'redis') {
    if (!this.unsafe && !this.breaker.allow()) {
      return this.unavailable(name, 'circuit open', fallback);
    }
    let result;
    try {
      result = await fn(this.client);
    } catch (err) {
      if (this.unsafe) {
        // The bug: no wrapper. The raw error reaches the route, which answers 500.
        this.onFailure(name, err);
        throw err;
      }
      if (isRefusal(err)) return this.refused(name, err, fallback);
      this.onFailure(name, err);
      return this.unavailable(name, describe(err), fallback);
    }
    this.breaker.success();
    if (this.state.state !== 'ready') this.state.mark('ready');
    return result;
  }

  onFailure(name, err) {
    this.breaker.failure();
    const next = this.breaker.state === 'open' ? 'down' : 'degraded';
    this.state.mark(next, `${name}: ${describe(err)}`);
    if (isTimeout(err) || isStuck(err, this.client)) this.dropConnection();
  }

  /**
   * A command that timed out leaves its connection unusable: a blackholed link swallowed the request or its
   * reply, and ioredis keeps waiting on that socket (it never reconnects on a command timeout by itself).
   * Drop it and reconnect, at most once a second, so traffic flows again as soon as the network does.
   */
  dropConnection() {
    const now = Date.now();
    if (this.closing || now - (this.lastDropped || 0) < 1000) return;
    this.lastDropped = now;
    logger.info('redis command timed out: dropping the connection and reconnecting');
    // A new client, not disconnect(true): ioredis ends the old socket politely and, with the peer blackholed,
    // can stay "ready" on a stream that no longer writes (measured: every command then fails with "Stream isn't
    // writeable" long after the network is back). The old client is closed without waiting for it.
    const old = this.client;
    this.client = new Redis(this.redisCfg.url, buildRedisOptions(this.redisCfg));
    for (const [name, script] of this.scripts) this.client.defineCommand(name, script);
    this.attachEvents();
    old.removeAllListeners();
    old.on('error', () => {});
    old.disconnect();
    this.connect();
  }

  refused(name, err, fallback) {
    // Redis is up and said no (NOPERM, WRONGTYPE, a script error): a deployment fault, not an outage.
    this.breaker.success();
    if (!this.refusalsReported.has(name)) {
      this.refusalsReported.add(name);
      logger.error(`redis refused ${name}`, { error: describe(err) });
    }
    if (fallback !== THROW && fallback !== undefined) return fallback;
    throw new StoreUnavailableError(name, describe(err), 1, { refused: true });
  }

  unavailable(name, reason, fallback) {
    if (fallback !== THROW && fallback !== undefined) return fallback;
    throw new StoreUnavailableError(name, reason, this.breaker.retryAfterS());
  }

  /** One PING through the wrapper: drives recovery when no traffic does. */
  async probe() {
    try {
      return (await this.safeRedisOperation((r) => r.ping(), false, 'ping')) === 'PONG';
    } catch (err) {
      return false; // only under unsafe_redis does the wrapper throw
    }
  }

  async quit() {
    this.closing = true;
    try {
      await Promise.race([this.client.quit(), new Promise((resolve) => setTimeout(resolve, 500))]);
    } catch (err) {
      /* closing a dead connection is not worth a log line */
    }
    this.client.disconnect();
  }
}

/** Answers of a pipeline, or the first error in it (ioredis resolves exec() with [err, value] pairs). */
async function execPipeline(pipeline) {
  const answers = await pipeline.exec();
  if (!answers) throw new Error('pipeline aborted');
  return answers.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

let manager = null;

function initRedis(config) {
  if (manager) return manager;
  manager = new RedisManager(config);
  return manager;
}

function getManager() {
  if (!manager) throw new Error('initRedis(config) was not called');
  return manager;
}

function safeRedisOperation(fn, fallback, name) {
  return getManager().safeRedisOperation(fn, fallback, name);
}

/**
 * The redisOperations wrapper: every call is one round trip through safeRedisOperation. The last argument of each
 * is the fallback: omit it (or pass THROW) to fail closed with StoreUnavailableError.
 */
const redisOperations = {
  get: (key, fallback) => safeRedisOperation((r) => r.get(key), fallback, 'get'),
  set: (key, value, ttlS, fallback) =>
    safeRedisOperation((r) => (ttlS ? r.set(key, value, 'EX', ttlS) : r.set(key, value)), fallback, 'set'),
  setex: (key, ttlS, value, fallback) => safeRedisOperation((r) => r.setex(key, ttlS, value), fallback, 'setex'),
  del: (keys, fallback) => safeRedisOperation((r) => r.del(...[].concat(keys)), fallback, 'del'),
  unlink: (keys, fallback) => safeRedisOperation((r) => r.unlink(...[].concat(keys)), fallback, 'unlink'),
  exists: (keys, fallback) => safeRedisOperation((r) => r.exists(...[].concat(keys)), fallback, 'exists'),
  ttl: (key, fallback) => safeRedisOperation((r) => r.ttl(key), fallback, 'ttl'),
  expire: (key, ttlS, fallback) => safeRedisOperation((r) => r.expire(key, ttlS), fallback, 'expire'),
  scan: (cursor, match, count, fallback) =>
    safeRedisOperation((r) => r.scan(cursor, 'MATCH', match, 'COUNT', count), fallback, 'scan'),
  /** build(pipeline) queues commands; answers are returned in order, the first error thrown. */
  pipeline: (build, fallback, name = 'pipeline') =>
    safeRedisOperation(
      (r) => {
        const p = r.pipeline();
        build(p);
        return execPipeline(p);
      },
      fallback,
      name
    ),
  eval: (script, keys, args, fallback, name = 'eval') =>
    safeRedisOperation((r) => r.eval(script, keys.length, ...keys, ...args), fallback, name),
  /** A script registered with defineScript (EVALSHA, falling back to EVAL on NOSCRIPT). */
  script: (scriptName, keys, args, fallback) =>
    safeRedisOperation((r) => r[scriptName](...keys, ...args), fallback, scriptName),
  ping: () => getManager().probe(),
};

/** Register a Lua script on the client as a command (ioredis sends EVALSHA, and EVAL on NOSCRIPT). */
function defineScript(name, numberOfKeys, lua) {
  const manager = getManager();
  manager.scripts.set(name, { numberOfKeys, lua });
  const c = manager.client;
  if (typeof c[name] !== 'function') c.defineCommand(name, { numberOfKeys, lua });
}

/**
 * A separately configured client, as the service had before the fix (bug `multiple_redis_clients`): ioredis
 * defaults (offline queue on, 20 retries per request, no command timeout), its own error listener, no breaker,
 * no wrapper.
 */
function createStandaloneClient(config, purpose) {
  const client = new Redis(config.redis.url, tlsOptions(config.redis.url, config.redis.tlsCa) ? { tls: tlsOptions(config.redis.url, config.redis.tlsCa) } : {});
  client.on('error', (err) => logger.debug(`${purpose} redis client error`, { error: describe(err) }));
  return client;
}

module.exports = {
  THROW,
  initRedis,
  getManager,
  safeRedisOperation,
  redisOperations,
  defineScript,
  execPipeline,
  buildRedisOptions,
  createStandaloneClient,
  redactUrl,
  ConnectionState,
};
