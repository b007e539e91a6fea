'use strict';
/**
 * End-to-end check by hand, against a real redis-server: `node test/manual-check.js [scenario...]`.
 * Scenarios: fixed, legacy_fallback_tokens, other_bugs, blackhole (default: all). Starts its own redis-server on
 * REDIS_PORT (6390) and the service on SERVICE_PORT (3111) as child processes, prints every request and answer,
 * and shuts both down at the end. Exit code 1 when an expectation failed. Needs redis-server and redis-cli on PATH.
 */

const { spawn, execFileSync } = require('child_process');
const path = require('path');
const crypto = require('crypto');

const REDIS_PORT = Number(process.env.REDIS_PORT || 6390);
const PORT = Number(process.env.SERVICE_PORT || 3111);
const BASE = `http://127.0.0.1:${PORT}`;
const ACCESS_SECRET = 'check-access-secret-0123456789abcdef0123';
const REFRESH_SECRET = 'check-refresh-secret-0123456789abcdef012';
const DEGRADED_MAX_S = 3;
let failures = 0;
let service = null;
let serviceLog = '';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function redisCli(...args) {
  try {
    return execFileSync('redis-cli', ['-p', String(REDIS_PORT), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch (err) {
    return '';
  }
}

async function startRedis() {
  if (redisCli('ping') === 'PONG') return;
  execFileSync('redis-server', ['--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no', '--daemonize', 'yes']);
  for (let i = 0; i < 50 && redisCli('ping') !== 'PONG'; i += 1) await sleep(100);
  console.log(`  [redis] started on ${REDIS_PORT}`);
}

function stopRedis() {
  redisCli('shutdown', 'nosave');
  console.log('  [redis] shutdown nosave');
}

function redisPid() {
  const info = redisCli('info', 'server');
  const m = /process_id:(\d+)/.exec(info);
  return m ? Number(m[1]) : null;
}

async function startService(env = {}) {
  await stopService();
  serviceLog = '';
  service = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'server.js')], {
    env: {
      ...process.env,
      PORT: String(PORT),
      REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}/0`,
      JWT_ACCESS_SECRET: ACCESS_SECRET,
      JWT_REFRESH_SECRET: REFRESH_SECRET,
      DEGRADED_MAX_S: String(DEGRADED_MAX_S),
      AUTHCHAOS_BUGS: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  service.stdout.on('data', (d) => (serviceLog += d));
  service.stderr.on('data', (d) => (serviceLog += d));
  for (let i = 0; i < 50; i += 1) {
    await sleep(100);
    try {
      const r = await fetch(`${BASE}/healthz`);
      const h = await r.json();
      if (h.redis.state === 'ready' || env.NO_WAIT_READY) break;
    } catch (err) {
      /* not listening yet */
    }
  }
  console.log(`  [service] started, env ${JSON.stringify(env)}`);
}

async function stopService() {
  if (!service) return;
  const s = service;
  service = null;
  s.kill('SIGTERM');
  await new Promise((r) => s.once('exit', r));
}

async function call(method, route, { body, token, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    h['content-type'] = 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const started = Date.now();
  const r = await fetch(BASE + route, { method, headers: h, body: payload });
  const ms = Date.now() - started;
  let json = null;
  try {
    json = await r.json();
  } catch (err) {
    json = null;
  }
  return {
    status: r.status,
    json,
    ms,
    code: json && json.error ? json.error.code : null,
    message: json && json.error ? json.error.message : null,
    degraded: r.headers.get('x-auth-degraded'),
    retryAfter: r.headers.get('retry-after'),
    data: json && json.data,
  };
}

function expect(label, res, status, code, extra = () => true) {
  const ok = res.status === status && (code === undefined || res.code === code) && extra(res);
  if (!ok) failures += 1;
  const bits = [`${res.status}`];
  if (res.code) bits.push(res.code, JSON.stringify(res.message));
  if (res.degraded) bits.push(`X-Auth-Degraded: ${res.degraded}`);
  if (res.retryAfter) bits.push(`Retry-After: ${res.retryAfter}`);
  if (res.data && !res.data.accessToken) bits.push(JSON.stringify(res.data));
  bits.push(`${res.ms} ms`);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}: ${bits.join(' | ')}${ok ? '' : `   (expected ${status} ${code || ''})`}`);
  return res;
}

function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/** Sign exactly `payload` (text), HS256, to craft legacy and hostile tokens. */
function signText(payloadText, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const head = Buffer.from(JSON.stringify(header)).toString('base64url');
  const body = Buffer.from(payloadText).toString('base64url');
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}
const sign = (payload, secret, header) => signText(JSON.stringify(payload), secret, header);
const now = () => Math.floor(Date.now() / 1000);
const base = (extra = {}) => ({ sub: 'alice', iat: now(), exp: now() + 3600, iss: 'authchaos', aud: 'authchaos-api', ...extra });

const login = (username = 'alice', password = username === 'admin' ? 'admin-secret' : 'wonderland') =>
  call('POST', '/api/v1/auth/login', { body: { username, password } });
const refresh = (refreshToken) => call('POST', '/api/v1/auth/refresh', { body: { refreshToken } });
const me = (token) => call('GET', '/api/v1/auth/me', { token });

async function waitReady(maxMs = 5000) {
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    const h = await (await fetch(`${BASE}/healthz`)).json();
    if (h.redis.state === 'ready' && h.pendingFamilies === 0) return h;
    await sleep(100);
  }
  return (await fetch(`${BASE}/healthz`)).json();
}

async function fixed() {
  console.log('\n== fixed service (no bug switches) ==');
  await startRedis();
  redisCli('flushall');
  await startService();
  const p1 = expect('login alice', await login(), 200).data;
  const c = claimsOf(p1.refreshToken);
  console.log(`     refresh claims: ${Object.keys(c).join(',')} type=${c.type}`);
  expect('login wrong password', await login('alice', 'nope'), 401, 'INVALID_CREDENTIALS');
  expect('login malformed JSON', await call('POST', '/api/v1/auth/login', { raw: '{"username":' }), 400, 'BAD_REQUEST');
  expect('login body is an array', await call('POST', '/api/v1/auth/login', { raw: '[1,2]' }), 400, 'BAD_REQUEST');
  expect('login 70 KB body', await call('POST', '/api/v1/auth/login', { raw: JSON.stringify({ username: 'x'.repeat(70000), password: 'y' }) }), 413, 'PAYLOAD_TOO_LARGE');
  expect('me', await me(p1.accessToken), 200, undefined, (r) => r.data.user.username === 'alice' && !r.degraded);
  expect('me without token', await me(undefined), 401, 'INVALID_TOKEN');
  expect('me with garbage token', await me('abc.def'), 401, 'INVALID_TOKEN');
  expect('me with refresh token', await me(p1.refreshToken), 401, 'INVALID_TOKEN');
  const p2 = expect('refresh (rotation)', await refresh(p1.refreshToken), 200).data;
  expect('refresh with the access token', await refresh(p1.accessToken), 401, 'INVALID_TOKEN', (r) => r.message === 'Invalid token type for refresh');
  expect('refresh reusing the old token', await refresh(p1.refreshToken), 401, 'TOKEN_REUSED');
  expect('refresh with the rotated token (family revoked)', await refresh(p2.refreshToken), 401, 'TOKEN_REVOKED');
  expect('me with the new access token (family revoked)', await me(p2.accessToken), 401, 'TOKEN_REVOKED');
  expect('refresh missing field', await call('POST', '/api/v1/auth/refresh', { body: {} }), 400, 'BAD_REQUEST');
  expect('refresh not JSON content-type', await call('POST', '/api/v1/auth/refresh', { headers: { 'content-type': 'text/plain' }, raw: undefined }), 400, 'BAD_REQUEST');
  const expiredRefresh = sign(base({ type: 'refresh', tokenId: 't', family: 'f', iat: now() - 100, exp: now() - 50 }), REFRESH_SECRET, { alg: 'HS256', typ: 'rt+jwt' });
  expect('refresh with an expired token', await refresh(expiredRefresh), 401, 'TOKEN_EXPIRED');
  const huge = signText(`{"sub":"alice","iat":${now()},"exp":1e400,"iss":"authchaos","aud":"authchaos-api","type":"access","tokenId":"x","family":"y"}`, ACCESS_SECRET);
  expect('me with exp = 1e400', await me(huge), 401, 'INVALID_TOKEN');
  const hugeInt = signText(`{"sub":"alice","iat":${now()},"exp":123456789012345678901234567890,"iss":"authchaos","aud":"authchaos-api","type":"refresh","tokenId":"x","family":"y"}`, REFRESH_SECRET);
  expect('refresh with a 30-digit exp', await refresh(hugeInt), 401, 'INVALID_TOKEN');
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(base())).toString('base64url')}.`;
  expect('refresh with alg none', await refresh(none), 401, 'INVALID_TOKEN');

  // logout
  const p3 = expect('login (for logout)', await login(), 200).data;
  expect('logout (with refreshToken)', await call('POST', '/api/v1/auth/logout', { token: p3.accessToken, body: { refreshToken: p3.refreshToken } }), 200, undefined, (r) => r.data.revoked === 1);
  expect('me after logout', await me(p3.accessToken), 401, 'TOKEN_REVOKED');
  expect('refresh after logout', await refresh(p3.refreshToken), 401, 'TOKEN_REVOKED');
  expect('logout again with the revoked access token', await call('POST', '/api/v1/auth/logout', { token: p3.accessToken }), 401, 'TOKEN_REVOKED');

  // logout-all
  const s1 = expect('login session 1', await login(), 200).data;
  const s2 = expect('login session 2', await login(), 200).data;
  const legacyAccess = sign(base({ userId: 'alice', iat: now() - 2 }), ACCESS_SECRET);
  expect('me with a legacy typeless access token', await me(legacyAccess), 200);
  const adm = expect('login admin', await login('admin'), 200).data;
  expect('logout-all (all: true)', await call('POST', '/api/v1/auth/logout', { token: s1.accessToken, body: { all: true } }), 200, undefined, (r) => r.data.revoked >= 2);
  expect('refresh session 2 after logout-all', await refresh(s2.refreshToken), 401, 'TOKEN_REVOKED');
  expect('me session 2 after logout-all', await me(s2.accessToken), 401, 'TOKEN_REVOKED');
  expect('me legacy access token after logout-all', await me(legacyAccess), 401, 'TOKEN_REVOKED');
  expect('me admin (other user) still fine', await me(adm.accessToken), 200);
  await sleep(1100); // logout-all compares iat (seconds) with its time (ms)

  // blacklist
  const b1 = expect('login (for blacklist)', await login(), 200).data;
  expect('blacklist as non-admin', await call('POST', '/api/v1/auth/blacklist', { token: b1.accessToken, body: { tokens: [] } }), 403, 'FORBIDDEN');
  expect('blacklist one token', await call('POST', '/api/v1/auth/blacklist', { token: adm.accessToken, body: { token: b1.accessToken } }), 200, undefined, (r) => r.data.blacklisted === 1);
  expect('me with the blacklisted token', await me(b1.accessToken), 401, 'TOKEN_REVOKED');
  expect('refresh of the same session still works', await refresh(b1.refreshToken), 200);
  const b2 = expect('login (for batch)', await login(), 200).data;
  const expiredAccess = sign(base({ type: 'access', tokenId: 'e', family: 'e', iat: now() - 100, exp: now() - 60 }), ACCESS_SECRET);
  const batch = await call('POST', '/api/v1/auth/blacklist', { token: adm.accessToken, body: { tokens: [b2.accessToken, b2.refreshToken, expiredAccess, 'garbage', 42] } });
  expect('batch blacklist [access, refresh, expired, garbage, 42]', batch, 200, undefined, (r) => r.data.blacklisted === 2 && r.data.expired === 1 && r.data.invalid === 2);
  expect('me after batch', await me(b2.accessToken), 401, 'TOKEN_REVOKED');
  expect('refresh after batch', await refresh(b2.refreshToken), 401, 'TOKEN_REVOKED');
  const ttl = Number(redisCli('ttl', `ac:bl:${claimsOf(b2.accessToken).tokenId}`));
  console.log(`     TTL of the blacklisted access token: ${ttl} s (token has ${claimsOf(b2.accessToken).exp - now()} s left + 5 s leeway)`);
  const many = [];
  const victims = [];
  for (let i = 0; i < 10000; i += 1) {
    const t = sign(base({ type: 'access', tokenId: `batch-${i}`, family: 'batch-fam' }), ACCESS_SECRET, { alg: 'HS256', typ: 'at+jwt' });
    victims.push(t);
  }
  many.push(...victims);
  expect('batch blacklist 10000 tokens', await call('POST', '/api/v1/auth/blacklist', { token: adm.accessToken, body: { tokens: many } }), 200, undefined, (r) => r.data.blacklisted === 10000);
  expect('blacklist 10001 tokens', await call('POST', '/api/v1/auth/blacklist', { token: adm.accessToken, body: { tokens: new Array(10001).fill('x') } }), 413, 'PAYLOAD_TOO_LARGE');

  // legacy refresh token (no type / tokenId / family), signed with the refresh secret
  const legacy = sign(base({ userId: 'alice', email: 'alice@example.com', iat: now() }), REFRESH_SECRET);
  const up = expect('legacy typeless refresh token, 1st', await refresh(legacy), 200).data;
  expect('legacy typeless refresh token, 2nd', await refresh(legacy), 401, 'TOKEN_REUSED');
  expect('the pair it was upgraded into (family revoked)', await refresh(up.refreshToken), 401, 'TOKEN_REVOKED');
  const typed = sign(base({ type: 'refresh' }), REFRESH_SECRET);
  expect('type but no tokenId/family, 1st', await refresh(typed), 200);
  expect('type but no tokenId/family, 2nd', await refresh(typed), 401, 'TOKEN_REUSED');
  const bugShape = sign(base({ userId: 'alice' }), ACCESS_SECRET);
  expect('legacy refresh signed with the access secret', await refresh(bugShape), 401, 'INVALID_TOKEN', (r) => r.message === 'Invalid token type for refresh');
  const unknown = sign(base({ type: 'refresh', tokenId: 'never', family: 'never' }), REFRESH_SECRET, { alg: 'HS256', typ: 'rt+jwt' });
  expect('current shape, unknown session', await refresh(unknown), 401, 'TOKEN_REVOKED');

  // oauth
  const o = expect('oauth callback demo', await call('GET', '/api/v1/auth/oauth/callback?provider=demo&code=user:alice'), 200).data;
  expect('refresh the oauth pair', await refresh(o.refreshToken), 200);
  expect('oauth bad code', await call('GET', '/api/v1/auth/oauth/callback?provider=demo&code=alice'), 400, 'INVALID_GRANT');
  expect('oauth unknown provider', await call('GET', '/api/v1/auth/oauth/callback?provider=github&code=user:alice'), 400, 'INVALID_GRANT');
  expect('unknown route', await call('GET', '/api/v1/nope'), 404, 'NOT_FOUND');

  // cleanup (admin route)
  redisCli('hset', 'ac:fam:orphan', 'sub', 'alice', 'current', 'x', 'prev', '', 'rotated_at', String(Date.now() - 30 * 24 * 3600 * 1000));
  redisCli('sadd', 'ac:userfams:ghost', 'gone-family');
  redisCli('set', 'unrelated:key', 'keep');
  expect('cleanup dry run', await call('POST', '/api/v1/admin/redis/cleanup', { token: adm.accessToken, body: { dryRun: true } }), 200);
  expect('cleanup', await call('POST', '/api/v1/admin/redis/cleanup', { token: adm.accessToken, body: {} }), 200, undefined, (r) => r.data.unlinked >= 1 && r.data.membersRemoved >= 1);
  console.log(`     after cleanup: orphan exists=${redisCli('exists', 'ac:fam:orphan')}, ghost set exists=${redisCli('exists', 'ac:userfams:ghost')}, unrelated exists=${redisCli('exists', 'unrelated:key')}`);

  // outage
  console.log('  -- Redis stopped --');
  const before = expect('login before the outage', await login(), 200).data;
  stopRedis();
  await sleep(200);
  const fb = expect('login during the outage (fallback)', await login(), 200).data;
  const fc = claimsOf(fb.refreshToken);
  console.log(`     fallback refresh claims: tokenId=${Boolean(fc.tokenId)} family=${Boolean(fc.family)} type=${fc.type} fb=${fc.fb}`);
  expect('me (fallback token) degraded', await me(fb.accessToken), 200, undefined, (r) => r.degraded === '1');
  expect('me (pre-outage token) degraded', await me(before.accessToken), 200, undefined, (r) => r.degraded === '1');
  expect('me with p3 (revoked by this process) still refused', await me(p3.accessToken), 401, 'TOKEN_REVOKED');
  expect('refresh during the outage', await refresh(fb.refreshToken), 503, 'STORE_UNAVAILABLE', (r) => Boolean(r.retryAfter));
  expect('logout during the outage', await call('POST', '/api/v1/auth/logout', { token: before.accessToken }), 503, 'STORE_UNAVAILABLE');
  expect('blacklist during the outage', await call('POST', '/api/v1/auth/blacklist', { token: adm.accessToken, body: { tokens: [before.accessToken] } }), 503, 'STORE_UNAVAILABLE');
  const h = await (await fetch(`${BASE}/healthz`)).json();
  console.log(`     healthz: ${JSON.stringify(h)}`);
  await sleep((DEGRADED_MAX_S + 0.5) * 1000);
  expect(`me after DEGRADED_MAX_S (${DEGRADED_MAX_S}s)`, await me(fb.accessToken), 503, 'STORE_UNAVAILABLE', (r) => Boolean(r.retryAfter));
  const fb2 = expect('login late in the outage (fallback, adopted on refresh)', await login(), 200).data;
  console.log('  -- Redis back --');
  await startRedis();
  const hb = await waitReady();
  console.log(`     healthz: ${JSON.stringify(hb)}`);
  expect('me (fallback token) after recovery', await me(fb.accessToken), 200, undefined, (r) => !r.degraded);
  const fr = expect('refresh the fallback session', await refresh(fb.refreshToken), 200).data;
  expect('refresh the fallback token again (reuse)', await refresh(fb.refreshToken), 401, 'TOKEN_REUSED');
  expect('refresh the rotated fallback pair (family revoked)', await refresh(fr.refreshToken), 401, 'TOKEN_REVOKED');
  expect('refresh the 2nd fallback session', await refresh(fb2.refreshToken), 200);
  // Note: Redis restarted without persistence: every revocation stored before is gone (documented).
  await stopService();
  if (/\b500\b|unhandled/.test(serviceLog)) console.log('  service log mentions 500/unhandled:\n' + serviceLog);
  console.log('  service log (redis state lines):');
  for (const l of serviceLog.split('\n').filter((x) => /redis state|registered|reuse/.test(x))) console.log('    ' + l);
}

async function legacyFallbackBug() {
  console.log('\n== AUTHCHAOS_BUGS=legacy_fallback_tokens ==');
  await startRedis();
  await startService({ AUTHCHAOS_BUGS: 'legacy_fallback_tokens' });
  stopRedis();
  await sleep(200);
  const fb = expect('login during the outage', await login(), 200).data;
  const fc = claimsOf(fb.refreshToken);
  console.log(`     fallback refresh claims: ${Object.keys(fc).join(',')}`);
  const o = expect('oauth during the outage', await call('GET', '/api/v1/auth/oauth/callback?provider=demo&code=user:alice'), 200).data;
  await startRedis();
  await waitReady();
  expect('refresh after Redis is back', await refresh(fb.refreshToken), 401, 'INVALID_TOKEN', (r) => r.message === 'Invalid token type for refresh');
  expect('refresh the oauth fallback pair', await refresh(o.refreshToken), 401, 'INVALID_TOKEN', (r) => r.message === 'Invalid token type for refresh');
  await stopService();
}

async function otherBugs() {
  console.log('\n== AUTHCHAOS_BUGS=missing_batch_blacklist ==');
  await startRedis();
  await startService({ AUTHCHAOS_BUGS: 'missing_batch_blacklist' });
  let adm = (await login('admin')).data;
  const a = (await login()).data;
  expect('batch blacklist', await call('POST', '/api/v1/auth/blacklist', { token: adm.accessToken, body: { tokens: [a.accessToken] } }), 500, 'INTERNAL_ERROR');
  expect('single blacklist still works', await call('POST', '/api/v1/auth/blacklist', { token: adm.accessToken, body: { token: a.accessToken } }), 200);
  console.log('     log: ' + serviceLog.split('\n').filter((l) => /unhandled/.test(l)).join(' / '));

  console.log('\n== AUTHCHAOS_BUGS=unsafe_redis ==');
  await startService({ AUTHCHAOS_BUGS: 'unsafe_redis' });
  let p = (await login()).data;
  stopRedis();
  await sleep(200);
  expect('login during the outage', await login(), 500, 'INTERNAL_ERROR');
  expect('me during the outage', await me(p.accessToken), 500, 'INTERNAL_ERROR');
  expect('refresh during the outage', await refresh(p.refreshToken), 500, 'INTERNAL_ERROR');
  await startRedis();

  console.log('\n== AUTHCHAOS_BUGS=multiple_redis_clients ==');
  await startService({ AUTHCHAOS_BUGS: 'multiple_redis_clients' });
  p = (await login()).data;
  expect('me, Redis up', await me(p.accessToken), 200);
  stopRedis();
  await sleep(200);
  expect('login during the outage (unified client: fallback)', await login(), 200);
  expect('me during the outage (own client, no wrapper)', await me(p.accessToken), 500, 'INTERNAL_ERROR');
  await startRedis();
  await stopService();
}

async function blackhole() {
  console.log('\n== blackhole (redis-server frozen with SIGSTOP): as_shipped vs production ==');
  for (const profile of ['as_shipped', 'production']) {
    await startRedis();
    await startService({ REDIS_PROFILE: profile, DEGRADED_MAX_S: '30' });
    const p = (await login()).data;
    const pid = redisPid();
    process.kill(pid, 'SIGSTOP');
    console.log(`  [redis] SIGSTOP ${pid} (profile ${profile})`);
    const times = [];
    for (let i = 0; i < 5; i += 1) {
      const r = await me(p.accessToken);
      times.push(`${r.status}${r.degraded ? 'd' : ''}/${r.ms}ms`);
    }
    const rr = await refresh(p.refreshToken);
    const lg = await login();
    console.log(`     ${profile}: 5 x me -> ${times.join(' ')}; refresh -> ${rr.status} ${rr.code} ${rr.ms}ms; login -> ${lg.status} ${lg.ms}ms`);
    process.kill(pid, 'SIGCONT');
    await sleep(300);
    await stopService();
  }
}

async function main() {
  const wanted = process.argv.slice(2);
  const all = { fixed, legacy_fallback_tokens: legacyFallbackBug, other_bugs: otherBugs, blackhole };
  try {
    for (const [name, fn] of Object.entries(all)) if (!wanted.length || wanted.includes(name)) await fn();
  } catch (err) {
    failures += 1;
    console.log('ERROR', err);
  } finally {
    await stopService();
    stopRedis();
  }
  console.log(`\n${failures ? `${failures} expectation(s) FAILED` : 'all expectations met'}`);
  process.exit(failures ? 1 : 0);
}

main();
