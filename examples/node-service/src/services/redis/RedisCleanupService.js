'use strict';
/**
 * RedisCleanupService: finds orphaned keys under `ac:` with SCAN (never KEYS), in bounded batches (COUNT, a
 * maximum number of iterations and of seconds), and removes them with UNLINK. Safe while the service serves:
 * a key that has a TTL is live and never touched.
 *
 *   - ac:fam:<f> without TTL (a partial write): UNLINK when past the refresh lifetime since its last rotation,
 *     else EXPIRE NX with what is left of it;
 *   - ac:usercache:<sub> without TTL: UNLINK (a cache entry; refilled on the next request);
 *   - revocation records without TTL (ac:bl, ac:famrev, ac:legacy, ac:userrev): EXPIRE NX with the refresh
 *     lifetime (the longest a token of ours lives), never UNLINK: a revocation is never cut short;
 *   - ac:userfams:<sub>: members whose ac:fam:<f> is gone are SREM'd (an emptied set disappears by itself);
 *   - any other key (unknown kinds, other prefixes): left alone.
 */

const { redisOperations, THROW } = require('../../config/redis');
const { PREFIX, keys } = require('../auth/tokenScripts');

const REVOCATION_KINDS = ['bl', 'famrev', 'legacy', 'userrev'];

class RedisCleanupService {
  constructor({ refreshTtlS, count = 500, maxIterations = 1000, maxSeconds = 300 }) {
    this.refreshTtlS = refreshTtlS;
    this.count = count;
    this.maxIterations = maxIterations;
    this.maxSeconds = maxSeconds;
  }

  async run({ dryRun = false } = {}) {
    const report = { scanned: 0, unlinked: 0, ttlAdded: 0, membersRemoved: 0, iterations: 0, complete: false, dryRun };
    const deadline = Date.now() + this.maxSeconds * 1000;
    let cursor = '0';
    while (report.iterations < this.maxIterations && Date.now() < deadline) {
      const [next, batch] = await redisOperations.scan(cursor, `${PREFIX}*`, this.count, THROW);
      report.iterations += 1;
      report.scanned += batch.length;
      if (batch.length) await this.cleanBatch(batch, report, dryRun);
      cursor = String(next);
      if (cursor === '0') {
        report.complete = true;
        break;
      }
    }
    return report;
  }

  async cleanBatch(batch, report, dryRun) {
    const answers = await redisOperations.pipeline(
      (p) => {
        for (const key of batch) {
          p.ttl(key);
          if (key.startsWith(`${PREFIX}fam:`)) p.hget(key, 'rotated_at');
          else p.echo('');
        }
      },
      THROW,
      'cleanup_inspect'
    );
    const unlink = [];
    const expire = [];
    const sets = [];
    const nowMs = Date.now();
    batch.forEach((key, i) => {
      const ttl = Number(answers[2 * i]);
      const rotatedAt = Number(answers[2 * i + 1] || 0);
      const kind = key.slice(PREFIX.length).split(':', 1)[0];
      if (kind === 'userfams') sets.push(key);
      else if (ttl !== -1) return; // live (has a TTL) or already gone
      else if (kind === 'fam') {
        const left = rotatedAt ? Math.floor(this.refreshTtlS - (nowMs - rotatedAt) / 1000) : this.refreshTtlS;
        if (left <= 0) unlink.push(key);
        else expire.push([key, left]);
      } else if (kind === 'usercache') unlink.push(key);
      else if (REVOCATION_KINDS.includes(kind)) expire.push([key, this.refreshTtlS]);
    });
    const removals = sets.length ? await this.staleMembers(sets) : [];
    report.unlinked += unlink.length;
    report.ttlAdded += expire.length;
    report.membersRemoved += removals.reduce((n, [, members]) => n + members.length, 0);
    if (dryRun || !(unlink.length || expire.length || removals.length)) return;
    await redisOperations.pipeline(
      (p) => {
        if (unlink.length) p.unlink(...unlink);
        for (const [key, ttl] of expire) p.expire(key, ttl, 'NX');
        for (const [key, members] of removals) p.srem(key, ...members);
      },
      THROW,
      'cleanup_apply'
    );
  }

  async staleMembers(sets) {
    const members = await redisOperations.pipeline((p) => sets.forEach((k) => p.smembers(k)), THROW, 'cleanup_members');
    const pairs = [];
    sets.forEach((key, i) => (members[i] || []).forEach((family) => pairs.push([key, family])));
    if (!pairs.length) return [];
    const alive = await redisOperations.pipeline((p) => pairs.forEach(([, f]) => p.exists(keys.fam(f))), THROW, 'cleanup_exists');
    const stale = new Map();
    pairs.forEach(([key, family], i) => {
      if (!Number(alive[i])) stale.set(key, (stale.get(key) || []).concat(family));
    });
    return [...stale.entries()];
  }
}

module.exports = { RedisCleanupService };
