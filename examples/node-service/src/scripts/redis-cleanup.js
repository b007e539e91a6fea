'use strict';
// CLI: node src/scripts/redis-cleanup.js [--dry-run] [--count N] [--max-iterations N] [--max-seconds N]
// Uses the same environment as the server (REDIS_URL, REDIS_PROFILE, REFRESH_TTL_S...). Prints a JSON report.

const { loadConfig } = require('../config');
const { initRedis } = require('../config/redis');
const { RedisCleanupService } = require('../services/redis/RedisCleanupService');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i === -1) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`${name} needs a positive integer\n`);
    process.exit(2);
  }
  return value;
}

async function main() {
  const config = loadConfig();
  const redis = initRedis(config);
  await redis.connect();
  const cleanup = new RedisCleanupService({
    refreshTtlS: config.jwt.refreshTtlS,
    count: arg('--count', 500),
    maxIterations: arg('--max-iterations', 1000),
    maxSeconds: arg('--max-seconds', 300),
  });
  try {
    const report = await cleanup.run({ dryRun: process.argv.includes('--dry-run') });
    process.stdout.write(JSON.stringify(report) + '\n');
  } catch (err) {
    process.stderr.write(`cleanup failed: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    await redis.quit();
  }
}

main();
