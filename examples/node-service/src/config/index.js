'use strict';
// Settings, read once from the environment. Invalid values stop the process with a message naming them.

const KNOWN_BUGS = ['legacy_fallback_tokens', 'missing_batch_blacklist', 'unsafe_redis', 'multiple_redis_clients'];

const DEFAULT_USERS = [
  { username: 'alice', password: 'wonderland', roles: ['user'] },
  { username: 'admin', password: 'admin-secret', roles: ['admin'] },
];
const DEV_ACCESS_SECRET = 'authchaos-node-dev-access-secret-do-not-use-in-production';
const DEV_REFRESH_SECRET = 'authchaos-node-dev-refresh-secret-do-not-use-in-production';

class ConfigError extends Error {}

function num(env, name, fallback, { min = -Infinity, max = Infinity, integer = false } = {}) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
  return value;
}

/**
 * Refresh keys taken out of signing but still accepted (rotation without logging everybody out): a comma list
 * of secrets, and optionally of their key ids in the same order.
 */
function retiredKeys(secrets, kids) {
  const list = String(secrets || '').split(',').filter(Boolean);
  const ids = String(kids || '').split(',');
  return list.map((secret, i) => ({ secret, kid: ids[i] || '' }));
}

function parseBugs(text) {
  const names = String(text || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !KNOWN_BUGS.includes(n));
  if (unknown.length) {
    throw new ConfigError(`AUTHCHAOS_BUGS: unknown switch ${unknown.join(', ')}; known: ${KNOWN_BUGS.join(', ')}`);
  }
  return new Set(names);
}

function parseUsers(text) {
  let users = DEFAULT_USERS;
  if (text) {
    try {
      users = JSON.parse(text);
    } catch (err) {
      throw new ConfigError('USERS_JSON is not valid JSON');
    }
  }
  if (!Array.isArray(users) || !users.length) throw new ConfigError('USERS_JSON must be a non-empty JSON array');
  return users.map((u, i) => {
    if (!u || typeof u.username !== 'string' || !u.username || typeof u.password !== 'string') {
      throw new ConfigError(`USERS_JSON[${i}]: needs string "username" and "password"`);
    }
    const roles = Array.isArray(u.roles) ? u.roles.map(String) : ['user'];
    return { id: typeof u.id === 'string' && u.id ? u.id : u.username, username: u.username, password: u.password, roles };
  });
}

function loadConfig(env = process.env) {
  const nodeEnv = env.NODE_ENV || 'development';
  const accessSecret = env.JWT_ACCESS_SECRET || (nodeEnv === 'production' ? '' : DEV_ACCESS_SECRET);
  const refreshSecret = env.JWT_REFRESH_SECRET || (nodeEnv === 'production' ? '' : DEV_REFRESH_SECRET);
  if (!accessSecret || !refreshSecret) {
    throw new ConfigError('JWT_ACCESS_SECRET and JWT_REFRESH_SECRET are required when NODE_ENV=production');
  }
  if (accessSecret === refreshSecret) {
    throw new ConfigError('JWT_ACCESS_SECRET and JWT_REFRESH_SECRET must differ (an access token must never pass as a refresh token)');
  }
  const profile = env.REDIS_PROFILE || 'production';
  if (!['production', 'as_shipped'].includes(profile)) {
    throw new ConfigError(`REDIS_PROFILE=${profile}: expected production or as_shipped`);
  }
  const oauthDemo = env.OAUTH_DEMO === undefined || env.OAUTH_DEMO === '' ? nodeEnv !== 'production' : env.OAUTH_DEMO === '1' || env.OAUTH_DEMO === 'true';
  return {
    nodeEnv,
    port: num(env, 'PORT', 3000, { min: 0, max: 65535, integer: true }),
    host: env.HOST || '127.0.0.1',
    redis: {
      url: env.REDIS_URL || 'redis://127.0.0.1:6379/0',
      tlsCa: env.REDIS_TLS_CA || '',
      profile,
      commandTimeoutMs: num(env, 'REDIS_COMMAND_TIMEOUT_MS', profile === 'production' ? 500 : 5000, { min: 1, integer: true }),
      connectTimeoutMs: num(env, 'REDIS_CONNECT_TIMEOUT_MS', profile === 'production' ? 500 : 10000, { min: 1, integer: true }),
      breakerThreshold: num(env, 'BREAKER_FAILURE_THRESHOLD', 3, { min: 1, integer: true }),
      breakerResetMs: num(env, 'BREAKER_RESET_MS', 1000, { min: 1, integer: true }),
      probeIntervalMs: num(env, 'REDIS_PROBE_INTERVAL_MS', 500, { min: 10, integer: true }),
      outageSettleS: num(env, 'OUTAGE_SETTLE_S', 10, { min: 0 }),
    },
    jwt: {
      accessSecret,
      refreshSecret,
      accessKid: env.JWT_ACCESS_KID || '',
      refreshKid: env.JWT_REFRESH_KID || '',
      refreshRetired: retiredKeys(env.JWT_REFRESH_RETIRED_SECRETS, env.JWT_REFRESH_RETIRED_KIDS),
      issuer: env.JWT_ISSUER || 'authchaos',
      audience: env.JWT_AUDIENCE || 'authchaos-api',
      accessTtlS: num(env, 'ACCESS_TTL_S', 900, { min: 1, integer: true }),
      refreshTtlS: num(env, 'REFRESH_TTL_S', 604800, { min: 1, integer: true }),
      reuseGraceS: num(env, 'REUSE_GRACE_S', 0, { min: 0, max: 60 }),
      leewayS: num(env, 'JWT_LEEWAY_S', 5, { min: 0, max: 60, integer: true }),
      maxTokenBytes: num(env, 'MAX_TOKEN_BYTES', 8192, { min: 512, integer: true }),
    },
    degradedMaxS: num(env, 'DEGRADED_MAX_S', 30, { min: 0 }),
    userCacheTtlS: num(env, 'USER_CACHE_TTL_S', 60, { min: 1, integer: true }),
    blacklistMax: num(env, 'BLACKLIST_MAX_TOKENS', 10000, { min: 1, integer: true }),
    maxBodyBytes: num(env, 'MAX_BODY_BYTES', 64 * 1024, { min: 1024, integer: true }),
    blacklistMaxBodyBytes: num(env, 'BLACKLIST_MAX_BODY_BYTES', 8 * 1024 * 1024, { min: 1024, integer: true }),
    maxInflight: num(env, 'MAX_INFLIGHT', 256, { min: 1, integer: true }),
    oauthDemo,
    users: parseUsers(env.USERS_JSON),
    bugs: parseBugs(env.AUTHCHAOS_BUGS),
  };
}

let current = null;
function getConfig() {
  if (!current) current = loadConfig();
  return current;
}

module.exports = { loadConfig, getConfig, ConfigError, KNOWN_BUGS };
